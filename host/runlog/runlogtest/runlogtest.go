// Package runlogtest is the conformance suite of the runlog.Store
// contract, which every Store implementation runs (runlog.Memory,
// natsbus.Runs).
package runlogtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/runlog"
)

// NewStore returns an empty store for one test; the test closes it.
type NewStore func(t *testing.T) runlog.Store

// Run runs the conformance suite against the stores that newStore
// returns.
func Run(t *testing.T, newStore NewStore) {
	t.Run("AppendByEvent", func(t *testing.T) { testAppendByEvent(t, newStore(t)) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore(t)) })
	t.Run("OddIDs", func(t *testing.T) { testOddIDs(t, newStore(t)) })
	t.Run("Invalid", func(t *testing.T) { testInvalid(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newStore(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newStore(t)) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, newStore(t)) })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func closeStore(t *testing.T, s runlog.Store) {
	t.Helper()
	if err := s.Close(ctxT(t)); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// Emit returns an emitted event as a handler's would be, child i of the
// event parent for subscription sub.
func Emit(parent, sub string, i int) *event.Event {
	p := &event.Event{ID: parent, Source: "/test", Type: "order.placed", SpecVersion: event.SpecVersion}
	e := &event.Event{Type: "payment.charged", DataContentType: "application/json", Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	event.StampChild(e, p, "evhost://plugin/"+sub, sub, i, time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC))
	return e
}

// Rec returns a record of a run of sub on the event id.
func Rec(id, sub string, attempt int) *runlog.Record {
	return &runlog.Record{
		Subscription: sub,
		Plugin:       sub + "-plugin",
		Version:      "9f86d081884c7d65",
		EventID:      id,
		EventSource:  "/test",
		EventType:    "order.placed",
		Attempt:      attempt,
		Status:       runlog.StatusDone,
		Start:        time.Now().UTC().Truncate(time.Microsecond),
		Duration:     1234567 * time.Nanosecond,
	}
}

func appendAll(t *testing.T, s runlog.Store, recs ...*runlog.Record) {
	t.Helper()
	if err := s.Append(ctxT(t), recs...); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func byEvent(t *testing.T, s runlog.Store, id string) []runlog.Record {
	t.Helper()
	got, err := s.ByEvent(ctxT(t), id)
	if err != nil {
		t.Fatalf("ByEvent(%q): %v", id, err)
	}
	return got
}

// key identifies a record in the tests' comparisons.
func key(r *runlog.Record) string {
	return fmt.Sprintf("%s/%s/%d/%s", r.EventID, r.Subscription, r.Attempt, r.Status)
}

func keys(rs []runlog.Record) []string {
	out := make([]string, len(rs))
	for i := range rs {
		out[i] = key(&rs[i])
	}
	return out
}

func testAppendByEvent(t *testing.T, s runlog.Store) {
	defer closeStore(t, s)
	a1 := Rec("a", "payment", 1)
	a1.Status, a1.Reason = runlog.StatusRetry, "card declined"
	b1 := Rec("b", "payment", 1)
	a2 := Rec("a", "payment", 2)
	a3 := Rec("a", "email", 1)
	appendAll(t, s, a1, b1)
	appendAll(t, s, a2)
	appendAll(t, s, a3)
	if !(a1.Seq > 0 && b1.Seq > a1.Seq && a2.Seq > b1.Seq && a3.Seq > a2.Seq) {
		t.Errorf("Seqs %d %d %d %d: want increasing from 1", a1.Seq, b1.Seq, a2.Seq, a3.Seq)
	}
	if a1.Kind != runlog.KindDelivery {
		t.Errorf("Kind after Append = %q, want %q", a1.Kind, runlog.KindDelivery)
	}
	got := byEvent(t, s, "a")
	want := []string{"a/payment/1/retry", "a/payment/2/done", "a/email/1/done"}
	if !reflect.DeepEqual(keys(got), want) {
		t.Fatalf("ByEvent(a) = %v, want %v", keys(got), want)
	}
	if got[0].Seq != a1.Seq || got[0].Reason != "card declined" {
		t.Errorf("ByEvent(a)[0] = %+v", got[0])
	}
	if got := byEvent(t, s, "b"); len(got) != 1 || got[0].Seq != b1.Seq {
		t.Errorf("ByEvent(b) = %+v", got)
	}
	if got := byEvent(t, s, "missing"); len(got) != 0 {
		t.Errorf("ByEvent(missing) = %+v, want none", got)
	}
}

func testRoundTrip(t *testing.T, s runlog.Store) {
	defer closeStore(t, s)
	r := Rec("rt", "payment", 3)
	r.Kind = runlog.KindShadow
	r.EventSeq = 42
	r.Reason = "line one\nline \"two\"\t\u2028 é"
	r.Emits = []*event.Event{Emit("rt", "payment", 0), Emit("rt", "payment", 1)}
	r.Emits[1].Data = []byte{0, 1, 2, 0xff} // binary data
	r.Emits[1].DataContentType = "application/octet-stream"
	r.Emits[1].SetExt("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	appendAll(t, s, r)
	got := byEvent(t, s, "rt")
	if len(got) != 1 {
		t.Fatalf("ByEvent = %d records, want 1", len(got))
	}
	g := got[0]
	want := *r
	want.Emits = nil
	g.Emits = nil
	if !g.Start.Equal(want.Start) {
		t.Errorf("Start = %v, want %v", g.Start, want.Start)
	}
	g.Start, want.Start = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("record = %+v\nwant %+v", g, want)
	}
	if len(got[0].Emits) != 2 {
		t.Fatalf("emits = %d, want 2", len(got[0].Emits))
	}
	for i, e := range got[0].Emits {
		w := r.Emits[i]
		if e.ID != w.ID || e.Source != w.Source || e.Type != w.Type || !e.Time.Equal(w.Time) || string(e.Data) != string(w.Data) {
			t.Errorf("emit %d = %+v, want %+v", i, e, w)
		}
		for _, a := range w.Extensions {
			if v, _ := e.Ext(a.Name); v != a.Value {
				t.Errorf("emit %d: extension %s = %q, want %q", i, a.Name, v, a.Value)
			}
		}
	}
}

func testOddIDs(t *testing.T, s runlog.Store) {
	defer closeStore(t, s)
	ids := []string{"a.b.c", "*", ">", "a b", "ünïcødé/🙂", "line\nbreak", "$JS.API.>", "..", " ", "x", "X"}
	for i, id := range ids {
		appendAll(t, s, Rec(id, "sub", i+1))
	}
	for i, id := range ids {
		got := byEvent(t, s, id)
		if len(got) != 1 || got[0].EventID != id || got[0].Attempt != i+1 {
			t.Errorf("ByEvent(%q) = %v, want its one record", id, keys(got))
		}
	}
}

func testInvalid(t *testing.T, s runlog.Store) {
	defer closeStore(t, s)
	ok := Rec("ok", "sub", 1)
	err := s.Append(ctxT(t), ok, &runlog.Record{Subscription: "sub"})
	if !errors.Is(err, runlog.ErrInvalidRecord) {
		t.Errorf("Append without event id: %v, want ErrInvalidRecord", err)
	}
	if got := byEvent(t, s, "ok"); len(got) != 0 {
		t.Errorf("a refused Append stored %v", keys(got))
	}
	if err := s.Append(ctxT(t)); err != nil {
		t.Errorf("Append of nothing: %v", err)
	}
}

func testList(t *testing.T, s runlog.Store) {
	defer closeStore(t, s)
	t0 := time.Now().UTC()
	var all []*runlog.Record
	for i := 0; i < 30; i++ {
		sub := "payment"
		if i%3 == 0 {
			sub = "email"
		}
		r := Rec(fmt.Sprint("ev", i), sub, 1)
		r.Start = t0.Add(time.Duration(i) * time.Millisecond)
		all = append(all, r)
	}
	appendAll(t, s, all[:10]...)
	appendAll(t, s, all[10:]...)
	list := func(f runlog.Filter) []runlog.Record {
		t.Helper()
		got, err := s.List(ctxT(t), f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		return got
	}
	if got := list(runlog.Filter{}); len(got) != 30 || got[0].EventID != "ev0" || got[29].EventID != "ev29" {
		t.Errorf("List() = %v", keys(got))
	}
	got := list(runlog.Filter{Subscription: "email"})
	if len(got) != 10 {
		t.Errorf("List(email) = %v, want 10", keys(got))
	}
	for _, r := range got {
		if r.Subscription != "email" {
			t.Errorf("List(email) returned %s", key(&r))
		}
	}
	// Paging.
	var paged []string
	for after := uint64(0); ; {
		page := list(runlog.Filter{Subscription: "payment", After: after, Limit: 7})
		if len(page) == 0 {
			break
		}
		if len(page) > 7 {
			t.Fatalf("a page of %d records, over the limit of 7", len(page))
		}
		paged = append(paged, keys(page)...)
		after = page[len(page)-1].Seq
	}
	if len(paged) != 20 {
		t.Errorf("paging through payment gave %d records, want 20: %v", len(paged), paged)
	}
	// Since.
	got = list(runlog.Filter{Since: t0.Add(25 * time.Millisecond)})
	if len(got) != 5 || got[0].EventID != "ev25" {
		t.Errorf("List(since ev25) = %v", keys(got))
	}
	if got := list(runlog.Filter{Subscription: "nobody"}); len(got) != 0 {
		t.Errorf("List(nobody) = %v", keys(got))
	}
	if got := list(runlog.Filter{After: all[29].Seq}); len(got) != 0 {
		t.Errorf("List(after the last) = %v", keys(got))
	}
}

func testConcurrent(t *testing.T, s runlog.Store) {
	defer closeStore(t, s)
	const writers, each = 4, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r := Rec(fmt.Sprint("c", i), fmt.Sprint("sub", w), 1)
				if err := s.Append(context.Background(), r); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				if _, err := s.ByEvent(context.Background(), r.EventID); err != nil {
					t.Errorf("ByEvent: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := 0; i < each; i++ {
		got := byEvent(t, s, fmt.Sprint("c", i))
		if len(got) != writers {
			t.Errorf("ByEvent(c%d) = %v, want %d records", i, keys(got), writers)
		}
		for j := 1; j < len(got); j++ {
			if got[j].Seq <= got[j-1].Seq {
				t.Errorf("ByEvent(c%d) not in append order: %d after %d", i, got[j].Seq, got[j-1].Seq)
			}
		}
	}
}

func testClosed(t *testing.T, s runlog.Store) {
	closeStore(t, s)
	if err := s.Append(ctxT(t), Rec("x", "sub", 1)); !errors.Is(err, runlog.ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := s.ByEvent(ctxT(t), "x"); !errors.Is(err, runlog.ErrClosed) {
		t.Errorf("ByEvent after Close: %v, want ErrClosed", err)
	}
	if _, err := s.List(ctxT(t), runlog.Filter{}); !errors.Is(err, runlog.ErrClosed) {
		t.Errorf("List after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(ctxT(t)); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
