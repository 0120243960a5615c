package natsbus_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus/natsbus"
)

// Read selects the recorded events of a range by their types, from and to
// a sequence or a time, without touching any subscription.
func TestRead(t *testing.T) {
	b := open(t, embedded(t))
	defer closeBus(t, b)
	ctx := context.Background()

	var seqs []uint64
	var ids []string
	types := []string{"order.placed", "user.created", "order.paid", "order.placed.eu", "order.placed"}
	var mid time.Time
	for i, typ := range types {
		if i == 3 {
			mid = time.Now()
		}
		e := newEvent(typ)
		ack := publish(t, b, e)
		seqs = append(seqs, ack.Seq)
		ids = append(ids, e.ID)
	}
	read := func(t *testing.T, r natsbus.Range) (got []string) {
		t.Helper()
		err := b.Read(ctx, r, func(rec natsbus.Recorded) error {
			got = append(got, rec.Event.ID)
			return nil
		})
		if err != nil {
			t.Fatalf("Read(%+v): %v", r, err)
		}
		return got
	}
	cases := []struct {
		name string
		r    natsbus.Range
		want []string
	}{
		{"all", natsbus.Range{Patterns: []string{">"}}, ids},
		{"one type", natsbus.Range{Patterns: []string{"order.placed"}}, []string{ids[0], ids[4]}},
		{"pattern", natsbus.Range{Patterns: []string{"order.*"}}, []string{ids[0], ids[2], ids[4]}},
		{"overlapping patterns", natsbus.Range{Patterns: []string{"order.>", "order.placed"}}, []string{ids[0], ids[2], ids[3], ids[4]}},
		{"from seq", natsbus.Range{Patterns: []string{">"}, FromSeq: seqs[2]}, ids[2:]},
		{"to seq", natsbus.Range{Patterns: []string{">"}, ToSeq: seqs[1]}, ids[:2]},
		{"seq window", natsbus.Range{Patterns: []string{"order.>"}, FromSeq: seqs[1], ToSeq: seqs[3]}, []string{ids[2], ids[3]}},
		{"from time", natsbus.Range{Patterns: []string{">"}, FromTime: mid}, ids[3:]},
		{"to time", natsbus.Range{Patterns: []string{">"}, ToTime: mid}, ids[:3]},
		{"nothing matches", natsbus.Range{Patterns: []string{"invoice.>"}}, nil},
		{"past the end", natsbus.Range{Patterns: []string{">"}, FromSeq: seqs[4] + 1}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := read(t, c.r); !slices.Equal(got, c.want) {
				t.Errorf("got %v\nwant %v", got, c.want)
			}
		})
	}

	// Events published after Read began are not part of a range with no end.
	n := 0
	stop := errors.New("stop")
	err := b.Read(ctx, natsbus.Range{Patterns: []string{">"}}, func(rec natsbus.Recorded) error {
		if n == 0 {
			publish(t, b, newEvent("order.placed"))
		}
		n++
		if n > len(ids) {
			return stop
		}
		return nil
	})
	if err != nil || n != len(ids) {
		t.Errorf("Read while publishing: %d events, %v; want %d, nil", n, err, len(ids))
	}
	if err := b.Read(ctx, natsbus.Range{}, func(natsbus.Recorded) error { return nil }); err == nil {
		t.Error("Read without patterns: no error")
	}
}
