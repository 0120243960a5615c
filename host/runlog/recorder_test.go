package runlog_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/runlog/runlogtest"
)

// gateStore is a Memory whose Append waits for its gate to open, and
// fails while fail is set.
type gateStore struct {
	*runlog.Memory
	gate    chan struct{}
	fail    atomic.Bool
	mu      sync.Mutex
	batches []int
}

func newGateStore(open bool) *gateStore {
	s := &gateStore{Memory: runlog.NewMemory(0), gate: make(chan struct{})}
	if open {
		close(s.gate)
	}
	return s
}

func (s *gateStore) Append(ctx context.Context, recs ...*runlog.Record) error {
	select {
	case <-s.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.fail.Load() {
		return errors.New("store unavailable")
	}
	s.mu.Lock()
	s.batches = append(s.batches, len(recs))
	s.mu.Unlock()
	return s.Memory.Append(ctx, recs...)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRecorderHandled(t *testing.T) {
	s := newGateStore(true)
	rec := runlog.NewRecorder(s, runlog.RecorderOptions{
		Describe: func(route string) (string, string) { return route + "-plugin", "v1" },
	})
	ev := &event.Event{ID: "e1", Source: "/shop", Type: "order.placed", SpecVersion: "1.0"}
	emits := []*event.Event{runlogtest.Emit("e1", "payment", 0)}
	before := time.Now()
	rec.Handled("payment", ev, 1, "retry", "card declined", emits, time.Millisecond)
	rec.Handled("payment", ev, 2, "done", "", emits, 2*time.Millisecond)
	emits[0] = nil // the caller's slice is not kept
	if err := rec.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	got, err := s.ByEvent(ctxT(t), "e1")
	if err != nil || len(got) != 2 {
		t.Fatalf("ByEvent = %+v, %v; want 2 records", got, err)
	}
	r0, r1 := got[0], got[1]
	if r0.Subscription != "payment" || r0.Plugin != "payment-plugin" || r0.Version != "v1" || r0.Kind != runlog.KindDelivery ||
		r0.EventSource != "/shop" || r0.EventType != "order.placed" || r0.Attempt != 1 || r0.Status != "retry" ||
		r0.Reason != "card declined" || r0.Duration != time.Millisecond || len(r0.Emits) != 0 {
		t.Errorf("record 0 = %+v", r0)
	}
	if r0.Start.Before(before.Add(-time.Millisecond)) || r0.Start.After(time.Now()) {
		t.Errorf("Start = %v, not within the call", r0.Start)
	}
	if r1.Status != "done" || len(r1.Emits) != 1 || r1.Emits[0] == nil || r1.Emits[0].Type != "payment.charged" {
		t.Errorf("record 1 = %+v", r1)
	}
	if err := rec.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if rec.Appended() != 2 || rec.Dropped() != 0 || rec.Failed() != 0 {
		t.Errorf("appended %d, dropped %d, failed %d", rec.Appended(), rec.Dropped(), rec.Failed())
	}
}

func TestRecorderBatches(t *testing.T) {
	s := newGateStore(false)
	rec := runlog.NewRecorder(s, runlog.RecorderOptions{Buffer: 1000, Batch: 100})
	// The first record is taken alone, and its Append waits at the gate
	// while the others pile up.
	for i := 0; i < 301; i++ {
		if !rec.Add(runlogtest.Rec(fmt.Sprint("e", i), "sub", 1)) {
			t.Fatalf("record %d refused", i)
		}
	}
	time.Sleep(10 * time.Millisecond)
	close(s.gate)
	if err := rec.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 301 {
		t.Errorf("%d records stored, want 301", s.Len())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.batches) > 5 {
		t.Errorf("%d appends for 301 records in batches of up to 100: %v", len(s.batches), s.batches)
	}
	for _, n := range s.batches {
		if n > 100 {
			t.Errorf("a batch of %d, over 100", n)
		}
	}
	all, _ := s.List(ctxT(t), runlog.Filter{})
	for i, r := range all {
		if r.EventID != fmt.Sprint("e", i) {
			t.Fatalf("record %d is %s: out of order", i, r.EventID)
		}
	}
}

// TestRecorderDropsWhenFull: a stuck store never blocks Add; the records
// past the buffer are counted as dropped.
func TestRecorderDropsWhenFull(t *testing.T) {
	s := newGateStore(false)
	rec := runlog.NewRecorder(s, runlog.RecorderOptions{Buffer: 10, Batch: 5})
	start := time.Now()
	accepted := 0
	for i := 0; i < 100; i++ {
		if rec.Add(runlogtest.Rec(fmt.Sprint("e", i), "sub", 1)) {
			accepted++
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Add blocked for %v", took)
	}
	// The drainer holds up to one batch, the buffer ten.
	if accepted < 10 || accepted > 16 {
		t.Errorf("%d accepted, want the buffer's 10 and what the drainer took", accepted)
	}
	if rec.Dropped() != uint64(100-accepted) {
		t.Errorf("Dropped = %d, want %d", rec.Dropped(), 100-accepted)
	}
	close(s.gate)
	if err := rec.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if s.Len() != accepted || rec.Appended() != uint64(accepted) {
		t.Errorf("%d stored, %d appended; want the %d accepted", s.Len(), rec.Appended(), accepted)
	}
	if rec.Add(runlogtest.Rec("late", "sub", 1)) {
		t.Error("Add after Close accepted a record")
	}
	if !errors.Is(rec.Flush(ctxT(t)), runlog.ErrClosed) {
		t.Error("Flush after Close did not return ErrClosed")
	}
	if rec.Add(nil) || rec.Add(&runlog.Record{}) {
		t.Error("Add accepted an invalid record")
	}
}

func TestRecorderStoreFails(t *testing.T) {
	s := newGateStore(true)
	s.fail.Store(true)
	rec := runlog.NewRecorder(s, runlog.RecorderOptions{})
	rec.Add(runlogtest.Rec("a", "sub", 1))
	if err := rec.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if rec.Failed() != 1 {
		t.Errorf("Failed = %d, want 1", rec.Failed())
	}
	s.fail.Store(false)
	rec.Add(runlogtest.Rec("b", "sub", 1))
	if err := rec.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if rec.Appended() != 1 || s.Len() != 1 {
		t.Errorf("appended %d, stored %d; want 1", rec.Appended(), s.Len())
	}
}

// TestRecorderCloseGivesUp: Close bounded by its context abandons a stuck
// append and what waits, and still waits for its goroutine.
func TestRecorderCloseGivesUp(t *testing.T) {
	s := newGateStore(false)
	rec := runlog.NewRecorder(s, runlog.RecorderOptions{Batch: 1})
	for i := 0; i < 5; i++ {
		rec.Add(runlogtest.Rec(fmt.Sprint("e", i), "sub", 1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := rec.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want DeadlineExceeded", err)
	}
	if rec.Dropped() != 5 || s.Len() != 0 {
		t.Errorf("dropped %d, stored %d; want 5 and 0", rec.Dropped(), s.Len())
	}
	if err := rec.Close(ctxT(t)); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestRecorderHammer records from many goroutines while flushing
// (run with -race).
func TestRecorderHammer(t *testing.T) {
	s := newGateStore(true)
	rec := runlog.NewRecorder(s, runlog.RecorderOptions{Buffer: 100_000})
	ev := &event.Event{ID: "x", Source: "/s", Type: "t", SpecVersion: "1.0"}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				rec.Handled(fmt.Sprint("s", w), ev, i+1, "done", "", nil, time.Microsecond)
				if i%250 == 0 {
					if err := rec.Flush(ctxT(t)); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := rec.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := rec.Appended() + rec.Dropped(); got != 8000 || s.Len() != int(rec.Appended()) {
		t.Errorf("appended %d + dropped %d, stored %d; want 8000 in all", rec.Appended(), rec.Dropped(), s.Len())
	}
}

func BenchmarkRecorderHandled(b *testing.B) {
	rec := runlog.NewRecorder(runlog.NewMemory(1000), runlog.RecorderOptions{})
	defer rec.Close(context.Background())
	ev := &event.Event{ID: "x", Source: "/s", Type: "t", SpecVersion: "1.0"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec.Handled("sub", ev, 1, "done", "", nil, time.Microsecond)
		}
	})
	b.ReportMetric(float64(rec.Dropped()), "dropped")
}

// HandledAt records the start it is given, as it is: the dispatcher's
// reading of the clock.
func TestRecorderHandledAt(t *testing.T) {
	s := newGateStore(true)
	rec := runlog.NewRecorder(s, runlog.RecorderOptions{})
	defer rec.Close(ctxT(t))
	ev := &event.Event{ID: "e1", Source: "/shop", Type: "order.placed", SpecVersion: "1.0"}
	start := time.Date(2026, 12, 7, 6, 0, 0, 123456789, time.UTC)
	rec.HandledAt("payment", ev, 3, "reject", "bad", nil, start, 5*time.Millisecond)
	if err := rec.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	got, err := s.ByEvent(ctxT(t), "e1")
	if err != nil || len(got) != 1 {
		t.Fatalf("ByEvent = %+v, %v; want 1 record", got, err)
	}
	if r := got[0]; !r.Start.Equal(start) || r.Duration != 5*time.Millisecond || r.Attempt != 3 || r.Status != "reject" || r.Reason != "bad" || r.Subscription != "payment" {
		t.Errorf("record = %+v", r)
	}
}

// HandledAll records several runs of a route in order, each as HandledAt
// would, with the plugin and version of the route; what the buffer has no
// room for is dropped and counted.
func TestRecorderHandledAll(t *testing.T) {
	s := newGateStore(false)
	describes := 0
	rec := runlog.NewRecorder(s, runlog.RecorderOptions{Buffer: 3, Batch: 100, Describe: func(route string) (string, string) {
		describes++
		return route + "-plugin", "v7"
	}})
	start := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	emit := &event.Event{ID: "x", Source: "/s", Type: "t2", SpecVersion: "1.0"}
	var runs []runlog.Run
	for i := range 5 {
		runs = append(runs, runlog.Run{
			Event:   &event.Event{ID: fmt.Sprint("e", i), Source: "/shop", Type: "t", SpecVersion: "1.0"},
			Attempt: i + 1, Status: runlog.StatusDone, Emits: []*event.Event{emit},
			Start: start.Add(time.Duration(i) * time.Second), Took: time.Millisecond,
		})
	}
	runs[1].Status, runs[1].Reason = "retry", "busy"
	rec.HandledAll("pay", runs)
	if describes != 1 {
		t.Errorf("Describe called %d times for one batch, want 1", describes)
	}
	// One take of the lock: the drainer takes none of them meanwhile.
	if d := rec.Dropped(); d != 2 {
		t.Errorf("Dropped = %d, want the 2 runs past the buffer of 3", d)
	}
	const kept = 3
	close(s.gate)
	if err := rec.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	defer rec.Close(ctxT(t))
	for i := range kept {
		got, err := s.ByEvent(ctxT(t), fmt.Sprint("e", i))
		if err != nil || len(got) != 1 {
			t.Fatalf("run %d: %+v, %v; want 1 record", i, got, err)
		}
		r := got[0]
		if r.Subscription != "pay" || r.Plugin != "pay-plugin" || r.Version != "v7" || r.Attempt != i+1 || !r.Start.Equal(runs[i].Start) || r.Status != runs[i].Status || r.Reason != runs[i].Reason {
			t.Errorf("run %d recorded as %+v", i, r)
		}
		if wantEmits := map[bool]int{true: 1, false: 0}[runs[i].Status == runlog.StatusDone]; len(r.Emits) != wantEmits {
			t.Errorf("run %d (%s): %d emits kept, want %d", i, r.Status, len(r.Emits), wantEmits)
		}
		if i > 0 {
			prev, _ := s.ByEvent(ctxT(t), fmt.Sprint("e", i-1))
			if prev[0].Seq >= r.Seq {
				t.Errorf("run %d stored before run %d", i, i-1)
			}
		}
	}
}

// TestRecorderKeepsUpWithBusyWorkers: a worker that never blocks, as the
// dispatcher's do while they have deliveries, hands over records faster
// than the buffer holds in the 10 ms a Go scheduler takes to preempt it.
// With one processor, where the drainer can run only when the worker lets
// it, none is dropped, because the worker yields to the drainer once a
// backlog builds up. Without the yield the drainer waits for a preemption
// and thousands are dropped.
func TestRecorderKeepsUpWithBusyWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	store := runlog.NewMemory(1 << 16)
	rec := runlog.NewRecorder(store, runlog.RecorderOptions{Buffer: 2048, Batch: 64})
	const total, batch = 100_000, 8
	ev := &event.Event{ID: "e", Source: "/t", Type: "t"}
	runs := make([]runlog.Run, batch)
	for i := range runs {
		runs[i] = runlog.Run{Event: ev, Attempt: 1, Status: runlog.StatusDone}
	}
	for range total / batch {
		spin(batch * 1000) // a batch's handling (about a microsecond a run), without blocking
		rec.HandledAll("route", runs)
	}
	if err := rec.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if d, a := rec.Dropped(), rec.Appended(); d != 0 || a != total {
		t.Errorf("dropped %d, appended %d of %d records; want none dropped", d, a, total)
	}
}

var spun atomic.Uint64

// spin does about n steps of work that the compiler cannot remove.
func spin(n int) {
	x := uint64(n)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	spun.Add(x & 1)
}
