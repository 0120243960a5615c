package natsbus

import (
	"testing"

	"github.com/nats-io/nats.go"
)

func TestParsePubAck(t *testing.T) {
	for _, tc := range []struct {
		data string
		hdr  nats.Header
		want pubResult
		err  bool
	}{
		{data: `{"stream":"evhost_events","seq":42}`, want: pubResult{seq: 42}},
		{data: `{"stream":"evhost_events", "seq": 7,"duplicate": true}`, want: pubResult{seq: 7, dup: true}},
		{data: `{"stream":"x","seq":7,"duplicate":false,"domain":"hub"}`, want: pubResult{seq: 7}},
		{data: `{"error":{"code":503,"err_code":10077,"description":"maximum bytes exceeded"},"stream":"x","seq":0}`, err: true},
		{data: `{"stream":"x"}`, err: true},
		{data: `{"stream":"x","seq":12x}`, err: true},
		{hdr: nats.Header{"Status": {"503"}}, err: true},
	} {
		got := parsePubAck(&nats.Msg{Data: []byte(tc.data), Header: tc.hdr})
		if tc.err != (got.err != nil) || !tc.err && got != tc.want {
			t.Errorf("parsePubAck(%s) = %+v, want %+v (error %v)", tc.data, got, tc.want, tc.err)
		}
	}
}
