package natsbus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/runlog/runlogtest"
)

// subs returns the subscriptions of recs, in order.
func subs(recs []runlog.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Subscription
	}
	return out
}

func messages(t *testing.T, s runlog.Store) uint64 {
	t.Helper()
	n, err := natsbus.RunsMessages(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRunsBatched: the records of one Append take one message, not one
// each, and are read back by event and in the delivery log, in append
// order, after the bus reopens too (the index rebuilt from the
// batches' headers).
func TestRunsBatched(t *testing.T) {
	ctx := context.Background()
	opts := embedded(t)
	b := open(t, opts)
	s := runs(t, b, natsbus.RunsOptions{})
	var recs []*runlog.Record
	for i := range 600 {
		r := runlogtest.Rec(fmt.Sprint("ev-", i%200), fmt.Sprint("sub", i/200), 1)
		if i%200 == 7 {
			r.Emits = []*event.Event{runlogtest.Emit(r.EventID, r.Subscription, 0)}
		}
		recs = append(recs, r)
	}
	if err := s.Append(ctx, recs[:300]...); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, recs[300:]...); err != nil {
		t.Fatal(err)
	}
	if n := messages(t, s); n != 2 {
		t.Errorf("600 records in two appends took %d messages, want 2", n)
	}
	check := func(s runlog.Store) {
		t.Helper()
		got, err := s.ByEvent(ctx, "ev-7")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(subs(got)) != "[sub0 sub1 sub2]" || got[0].Seq != recs[7].Seq || got[2].Seq != recs[407].Seq {
			t.Fatalf("ByEvent(ev-7) = %+v", got)
		}
		if len(got[1].Emits) != 1 || got[1].Emits[0].ID != recs[207].Emits[0].ID {
			t.Errorf("emits = %+v", got[1].Emits)
		}
		if got, err := s.ByEvent(ctx, "ev-200"); err != nil || len(got) != 0 {
			t.Errorf("ByEvent(ev-200) = %+v, %v; want none", got, err)
		}
		var all []runlog.Record
		for after := uint64(0); ; {
			page, err := s.List(ctx, runlog.Filter{After: after, Limit: 70})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			all = append(all, page...)
			after = page[len(page)-1].Seq
		}
		if len(all) != len(recs) {
			t.Fatalf("List in pages of 70: %d records, want %d", len(all), len(recs))
		}
		for i := range all {
			if all[i].Seq != recs[i].Seq || all[i].EventID != recs[i].EventID {
				t.Fatalf("List [%d] = %d %s, want %d %s", i, all[i].Seq, all[i].EventID, recs[i].Seq, recs[i].EventID)
			}
		}
		sub1, err := s.List(ctx, runlog.Filter{Subscription: "sub1"})
		if err != nil || len(sub1) != 200 || sub1[0].Seq != recs[200].Seq {
			t.Errorf("List(sub1) = %d records, %v", len(sub1), err)
		}
	}
	check(s)
	closeBus(t, b)
	b = open(t, opts)
	defer closeBus(t, b)
	check(runs(t, b, natsbus.RunsOptions{}))
}

// TestRunsOldLayout: records written one message each, as versions before
// the batches did, are read with those written since, in append order,
// by event and in the delivery log, after the bus reopens too.
func TestRunsOldLayout(t *testing.T) {
	ctx := context.Background()
	opts := embedded(t)
	b := open(t, opts)
	s := runs(t, b, natsbus.RunsOptions{})
	old := []*runlog.Record{runlogtest.Rec("a", "payment", 1), runlogtest.Rec("b", "payment", 1), runlogtest.Rec("a", "email", 1)}
	if err := natsbus.AppendOneEach(ctx, s, old...); err != nil {
		t.Fatal(err)
	}
	mid := runlogtest.Rec("a", "payment", 2)
	if err := s.Append(ctx, mid, runlogtest.Rec("b", "email", 1)); err != nil {
		t.Fatal(err)
	}
	// A daemon of the older version still writing.
	late := runlogtest.Rec("a", "audit", 1)
	if err := natsbus.AppendOneEach(ctx, s, late); err != nil {
		t.Fatal(err)
	}
	check := func(s runlog.Store) {
		t.Helper()
		got, err := s.ByEvent(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(subs(got)) != "[payment email payment audit]" || got[2].Seq != mid.Seq || got[2].Attempt != 2 || got[3].Seq != late.Seq {
			t.Errorf("ByEvent(a) = %+v", got)
		}
		all, err := s.List(ctx, runlog.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(subs(all)) != "[payment payment email payment email audit]" {
			t.Errorf("List = %v", subs(all))
		}
		page, err := s.List(ctx, runlog.Filter{After: old[2].Seq, Limit: 1})
		if err != nil || len(page) != 1 || page[0].Seq != mid.Seq {
			t.Errorf("List after the last old record = %+v, %v", page, err)
		}
	}
	check(s)
	closeBus(t, b)
	b = open(t, opts)
	defer closeBus(t, b)
	check(runs(t, b, natsbus.RunsOptions{}))
}

// TestRunsTwoStores: what one store (daemon) appends, another on the same
// stream reads at once: its index catches up with the stream.
func TestRunsTwoStores(t *testing.T) {
	ctx := context.Background()
	b := open(t, embedded(t))
	defer closeBus(t, b)
	s1 := runs(t, b, natsbus.RunsOptions{})
	s2 := runs(t, b, natsbus.RunsOptions{})
	for i := range 3 {
		if err := s1.Append(ctx, runlogtest.Rec("x", fmt.Sprint("one", i), 1), runlogtest.Rec("y", "one", 1)); err != nil {
			t.Fatal(err)
		}
		if err := s2.Append(ctx, runlogtest.Rec("x", fmt.Sprint("two", i), 1)); err != nil {
			t.Fatal(err)
		}
		for _, s := range []runlog.Store{s1, s2} {
			got, err := s.ByEvent(ctx, "x")
			if err != nil || len(got) != 2*(i+1) || got[len(got)-1].Subscription != fmt.Sprint("two", i) {
				t.Fatalf("round %d: ByEvent(x) = %v, %v", i, subs(got), err)
			}
		}
	}
}

// TestRunsIndexBound: the index keeps the fingerprints of the newest
// IndexRecords records (whole batches); older records are still listed.
func TestRunsIndexBound(t *testing.T) {
	ctx := context.Background()
	b := open(t, embedded(t))
	defer closeBus(t, b)
	if _, err := natsbus.Runs(ctx, b, natsbus.RunsOptions{IndexRecords: -1}); err == nil {
		t.Error("IndexRecords -1 accepted")
	}
	s := runs(t, b, natsbus.RunsOptions{IndexRecords: 10})
	for i := range 3 {
		var recs []*runlog.Record
		for j := range 10 {
			recs = append(recs, runlogtest.Rec(fmt.Sprintf("e%d-%d", i, j), "payment", 1))
		}
		if err := s.Append(ctx, recs...); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.ByEvent(ctx, "e2-3"); err != nil || len(got) != 1 {
		t.Errorf("ByEvent(e2-3) = %+v, %v", got, err)
	}
	if got, err := s.ByEvent(ctx, "e0-3"); err != nil || len(got) != 0 {
		t.Errorf("ByEvent(e0-3), out of the index = %+v, %v; want none", got, err)
	}
	if all, err := s.List(ctx, runlog.Filter{}); err != nil || len(all) != 30 {
		t.Errorf("List = %d records, %v", len(all), err)
	}
}

// TestRunsMalformedBatch: a batch whose header does not describe its body
// is skipped by readers, the others are read.
func TestRunsMalformedBatch(t *testing.T) {
	ctx := context.Background()
	b := open(t, embedded(t))
	defer closeBus(t, b)
	s := runs(t, b, natsbus.RunsOptions{})
	if err := s.Append(ctx, runlogtest.Rec("a", "one", 1)); err != nil {
		t.Fatal(err)
	}
	for _, hdr := range []string{"!!", "AAAA", "AAAAAAE"} { // not base64, short, lengths wrong
		if err := natsbus.PublishRunsRaw(ctx, s, hdr, []byte("{}\n")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(ctx, runlogtest.Rec("a", "two", 1)); err != nil {
		t.Fatal(err)
	}
	got, err := s.ByEvent(ctx, "a")
	if err != nil || fmt.Sprint(subs(got)) != "[one two]" {
		t.Errorf("ByEvent(a) = %v, %v", subs(got), err)
	}
	all, err := s.List(ctx, runlog.Filter{})
	if err != nil || fmt.Sprint(subs(all)) != "[one two]" {
		t.Errorf("List = %v, %v", subs(all), err)
	}
}

// TestRunsRecorder: a Recorder fed by many goroutines appends every
// record to the batched store; Close flushes what it holds, so that all
// is read back, in far fewer messages than records.
func TestRunsRecorder(t *testing.T) {
	ctx := context.Background()
	b := open(t, embedded(t))
	defer closeBus(t, b)
	s := runs(t, b, natsbus.RunsOptions{})
	rec := runlog.NewRecorder(s, runlog.RecorderOptions{Buffer: 1 << 16})
	const workers, per = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				ev := &event.Event{ID: fmt.Sprintf("w%d-%d", w, i), Source: "/t", Type: "t"}
				rec.Handled("sub", ev, 1, runlog.StatusDone, "", nil, time.Millisecond)
			}
		}()
	}
	wg.Wait()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := rec.Close(cctx); err != nil {
		t.Fatal(err)
	}
	if rec.Appended() != workers*per || rec.Dropped() != 0 || rec.Failed() != 0 {
		t.Fatalf("appended %d, dropped %d, failed %d", rec.Appended(), rec.Dropped(), rec.Failed())
	}
	all, err := s.List(ctx, runlog.Filter{Limit: workers * per})
	if err != nil || len(all) != workers*per {
		t.Fatalf("List = %d records, %v", len(all), err)
	}
	if got, err := s.ByEvent(ctx, "w3-499"); err != nil || len(got) != 1 {
		t.Errorf("ByEvent(w3-499) = %+v, %v", got, err)
	}
	if n := messages(t, s); n*2 > workers*per {
		t.Errorf("%d records took %d messages", workers*per, n)
	}
}

// TestRunsOldLayoutOnly: a stream with the records of one event in the
// older layout only (one subject, no batch) is read.
func TestRunsOldLayoutOnly(t *testing.T) {
	ctx := context.Background()
	b := open(t, embedded(t))
	defer closeBus(t, b)
	s := runs(t, b, natsbus.RunsOptions{})
	if err := natsbus.AppendOneEach(ctx, s, runlogtest.Rec("a", "payment", 1), runlogtest.Rec("a", "email", 1)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ByEvent(ctx, "a"); err != nil || fmt.Sprint(subs(got)) != "[payment email]" {
		t.Errorf("ByEvent(a) = %v, %v", subs(got), err)
	}
}
