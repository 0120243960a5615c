package natsbus

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/runlog"
)

// Fuzzers of the decoders of what arrives from the broker: releases,
// dead letters, publish acknowledgements and the reply subjects of
// deliveries. Anyone who can write to the broker chooses those bytes.

func FuzzParseRelease(f *testing.F) {
	f.Add(uint64(1), []byte(`{"config":"[plugins.a]\npath = \"sha256:00\"\n","modules":{"a":"00"},"time":"2026-01-02T03:04:05Z","note":"n","base":3,"signature":"AAEC"}`))
	f.Add(uint64(7), []byte(`{"config":"","modules":null,"time":"0001-01-01T00:00:00Z"}`))
	f.Add(uint64(0), []byte(`{"signature":"not base64"}`))
	f.Fuzz(func(t *testing.T, rev uint64, val []byte) {
		r, err := parseRelease(rev, val)
		if err != nil {
			return
		}
		if r.Revision != rev {
			t.Fatalf("revision %d, want %d", r.Revision, rev)
		}
		enc, err := encodeRelease(r)
		if err != nil {
			if y := r.Time.Year(); y < 0 || y > 9999 {
				return // JSON cannot write a time out of [0, 9999]
			}
			t.Fatalf("encoding %+v: %v", r, err)
		}
		again, err := parseRelease(rev, enc)
		if err != nil {
			t.Fatalf("decoding %s: %v", enc, err)
		}
		if !again.Time.Equal(r.Time) {
			t.Fatalf("time %v, then %v", r.Time, again.Time)
		}
		again.Time, r.Time = time.Time{}, time.Time{}
		if len(r.Modules) == 0 && len(again.Modules) == 0 {
			again.Modules, r.Modules = nil, nil
		}
		if len(r.Signature) == 0 && len(again.Signature) == 0 {
			again.Signature, r.Signature = nil, nil
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, r)
		}
	})
}

func FuzzDecodeDeadLetter(f *testing.F) {
	f.Add("ce-specversion: 1.0\r\nce-id: 1\r\nce-source: /x\r\nce-type: a.b\r\nEvhost-Subscription: pay\r\nEvhost-Reason: boom%20it\r\nEvhost-Attempts: 5\r\nEvhost-Terminated: true\r\nEvhost-Event-Seq: 9\r\n", []byte("data"), uint64(3))
	f.Add("ce-specversion: 1.0\r\nce-id: 1\r\nce-source: /x\r\nce-type: a\r\nEvhost-Attempts: -1\r\nEvhost-Terminated: yes\r\n", []byte{}, uint64(0))
	f.Add("Evhost-Subscription: x\r\n", []byte(`{}`), uint64(1))
	f.Fuzz(func(t *testing.T, hdr string, data []byte, seq uint64) {
		h, err := nats.DecodeHeadersMsg([]byte("NATS/1.0\r\n" + hdr + "\r\n\r\n"))
		if err != nil {
			return
		}
		dl, err := decodeDeadLetter(&jetstream.RawStreamMsg{Header: h, Data: data, Sequence: seq})
		if err != nil {
			return
		}
		if dl.ID != seq || dl.Event == nil {
			t.Fatalf("dead letter %+v of sequence %d", dl, seq)
		}
		if err := dl.Event.Validate(); err != nil {
			t.Fatalf("decoded an invalid event: %v", err)
		}
		// What decodes encodes (as writeDeadLetter does) and decodes the same.
		h2 := deadLetterHeader(dl.Subscription, seq, dl.Event, dl.Reason, dl.Attempts, dl.Terminated)
		again, err := decodeDeadLetter(&jetstream.RawStreamMsg{Header: wire(t, h2), Data: dl.Event.Data, Sequence: seq})
		if err != nil {
			t.Fatalf("re-decoding %+v: %v", dl, err)
		}
		if !again.Event.Time.Equal(dl.Event.Time) {
			t.Fatalf("time %v, then %v", dl.Event.Time, again.Event.Time)
		}
		again.Event.Time, dl.Event.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(again, dl) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, dl)
		}
	})
}

func FuzzParsePubAck(f *testing.F) {
	f.Add([]byte(`{"stream":"evhost_events","seq":42}`), "")
	f.Add([]byte(`{"stream":"evhost_events","seq":42,"duplicate":true}`), "")
	f.Add([]byte(`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`), "")
	f.Add([]byte{}, "503")
	f.Add([]byte(`{"seq":18446744073709551616}`), "")
	f.Fuzz(func(t *testing.T, data []byte, status string) {
		h := nats.Header{}
		if status != "" {
			h.Set(hdrStatus, status)
		}
		r := parsePubAck(&nats.Msg{Data: data, Header: h})
		if (r.err == nil) == (r.seq == 0) {
			t.Fatalf("%q: seq %d with error %v", data, r.seq, r.err)
		}
		if r.err != nil {
			return
		}
		// The acknowledgement the server would send for that result reads the same.
		ack := fmt.Sprintf(`{"stream":"s","seq":%d}`, r.seq)
		if r.dup {
			ack = fmt.Sprintf(`{"stream":"s","seq":%d,"duplicate":true}`, r.seq)
		}
		again := parsePubAck(&nats.Msg{Data: []byte(ack)})
		if again.err != nil || again.seq != r.seq || again.dup != r.dup {
			t.Fatalf("%s: %+v, want %+v", ack, again, r)
		}
	})
}

func FuzzParseAckReply(f *testing.F) {
	f.Add("$JS.ACK.evhost_events.pay.1.42.42.1700000000000000000.0")
	f.Add("$JS.ACK.hub.ACCHASH.evhost_events.pay.3.7.5.1700000000000000000.2.tok")
	f.Add("$JS.ACK.a.b.99999999999.1.1.1.1")
	f.Add("_INBOX.x")
	f.Fuzz(func(t *testing.T, reply string) {
		d, s, ok := parseAckReply(reply)
		if !ok {
			if d != 0 || s != 0 {
				t.Fatalf("%q: not ok, with %d, %d", reply, d, s)
			}
			return
		}
		if d < 0 || !strings.HasPrefix(reply, "$JS.ACK.") {
			t.Fatalf("%q: delivered %d", reply, d)
		}
		// Both forms of the subject, made from the values, read the same.
		for _, again := range []string{
			fmt.Sprintf("$JS.ACK.st.co.%d.%d.1.2.3", d, s),
			fmt.Sprintf("$JS.ACK.dom.hash.st.co.%d.%d.1.2.3.tok", d, s),
		} {
			d2, s2, ok2 := parseAckReply(again)
			if !ok2 || d2 != d || s2 != s {
				t.Fatalf("%q: %d %d %v, want %d %d", again, d2, s2, ok2, d, s)
			}
		}
	})
}

// FuzzParseBatch: a batch of the run log read back whole (its header and
// body from anyone who can write to the stream) is parsed without
// panicking, and when accepted its entries describe the body exactly; the
// records the encoder writes parse back.
func FuzzParseBatch(f *testing.F) {
	recs := []*runlog.Record{
		{EventID: "a", Subscription: "s", Status: runlog.StatusDone, Attempt: 1},
		{EventID: "b\n\"c", Subscription: "s", Status: runlog.StatusRetry, Reason: "x\ny", Attempt: 2},
	}
	_, body, hdr, _ := new(batchEncoder).next(recs, 1<<20)
	f.Add(hdr, body)
	f.Add("", []byte{})
	f.Add("AAAAAAE", []byte("{}\n"))
	f.Fuzz(func(t *testing.T, hdr string, body []byte) {
		entries, err := parseBatch(hdr, body, true)
		if err != nil {
			return
		}
		total := 0
		for _, e := range entries {
			if e.len < 0 {
				t.Fatalf("negative length %d", e.len)
			}
			total += e.len + 1
		}
		if total != len(body) || len(entries) > maxBatchRecords {
			t.Fatalf("%d entries of %d bytes for a body of %d", len(entries), total, len(body))
		}
		if _, err := parseBatch(hdr, nil, false); err != nil {
			t.Fatalf("the header alone: %v", err)
		}
	})
}
