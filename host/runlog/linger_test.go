package runlog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/runlog/runlogtest"
)

// notifyStore is a Memory that sends the size of every Append on appends.
type notifyStore struct {
	*runlog.Memory
	appends chan int
}

func (s *notifyStore) Append(ctx context.Context, recs ...*runlog.Record) error {
	err := s.Memory.Append(ctx, recs...)
	s.appends <- len(recs)
	return err
}

func newNotifyStore() *notifyStore {
	return &notifyStore{Memory: runlog.NewMemory(0), appends: make(chan int, 100)}
}

func nextAppend(t *testing.T, s *notifyStore) int {
	t.Helper()
	select {
	case n := <-s.appends:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no Append")
		return 0
	}
}

// TestRecorderLingerFillsBatches: with Linger, the Recorder waits for a
// full batch rather than appending the first record alone, and a Flush,
// a Close or the end of the linger appends what waits.
func TestRecorderLingerFillsBatches(t *testing.T) {
	s := newNotifyStore()
	rec := runlog.NewRecorder(s, runlog.RecorderOptions{Batch: 50, Linger: time.Hour})
	for i := range 120 {
		if !rec.Add(runlogtest.Rec(fmt.Sprint("e", i), "sub", 1)) {
			t.Fatalf("record %d refused", i)
		}
	}
	if n := nextAppend(t, s); n != 50 {
		t.Errorf("first Append of %d records, want a full batch of 50", n)
	}
	// The rest is appended by a Flush, long before the hour.
	if err := rec.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 120 {
		t.Errorf("%d records stored after Flush, want 120", s.Len())
	}
	// Close appends what lingers.
	for i := range 3 {
		rec.Add(runlogtest.Rec(fmt.Sprint("c", i), "sub", 1))
	}
	if err := rec.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 123 || rec.Appended() != 123 || rec.Dropped() != 0 {
		t.Errorf("after Close: %d stored, %d appended, %d dropped; want 123, 123, 0", s.Len(), rec.Appended(), rec.Dropped())
	}
}

// TestRecorderLingerEnds: a record alone is appended once Linger has
// passed, without a Flush.
func TestRecorderLingerEnds(t *testing.T) {
	s := newNotifyStore()
	rec := runlog.NewRecorder(s, runlog.RecorderOptions{Batch: 50, Linger: 5 * time.Millisecond})
	defer rec.Close(ctxT(t))
	for round := range 3 {
		rec.Add(runlogtest.Rec(fmt.Sprint("e", round), "sub", 1))
		if n := nextAppend(t, s); n != 1 {
			t.Errorf("round %d: Append of %d records, want 1", round, n)
		}
	}
}

// TestRecorderLingerBounded: a flood while the Recorder lingers is held
// to Buffer records; the rest is dropped and counted.
func TestRecorderLingerBounded(t *testing.T) {
	s := newNotifyStore()
	rec := runlog.NewRecorder(s, runlog.RecorderOptions{Buffer: 100, Batch: 1000, Linger: time.Hour})
	accepted := 0
	for i := range 10_000 {
		if rec.Add(runlogtest.Rec(fmt.Sprint("e", i), "sub", 1)) {
			accepted++
		}
	}
	if accepted != 100 || rec.Dropped() != 9900 {
		t.Errorf("accepted %d, dropped %d; want 100 and 9900", accepted, rec.Dropped())
	}
	if err := rec.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 100 {
		t.Errorf("%d stored, want 100", s.Len())
	}
}
