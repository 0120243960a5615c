package host_test

import (
	"context"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
)

// A native handler's emits are stamped with the time of the run's first
// emit, all of one run with the same time: the clock is read when the
// handler emits, not at every run (most runs emit nothing).
func TestNativeEmitsAreStampedWithTheRunsTime(t *testing.T) {
	h, _ := start(t, t.TempDir(), "[broker]\nkind = \"memory\"\n")
	ctx := context.Background()
	ran := make(chan [2]time.Time, 1)
	if err := h.Handle("split", []string{"order.placed"}, func(_ context.Context, _ *event.Event, emit func(*event.Event)) error {
		before := time.Now()
		emit(&event.Event{Type: "line.added"})
		emit(&event.Event{Type: "line.added"})
		ran <- [2]time.Time{before, time.Now()}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := make(chan *event.Event, 2)
	if err := h.Handle("lines", []string{"line.added"}, func(_ context.Context, ev *event.Event, _ func(*event.Event)) error {
		got <- ev
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish(ctx, &event.Event{Type: "order.placed", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	window := <-ran
	var times []time.Time
	for range 2 {
		select {
		case ev := <-got:
			times = append(times, ev.Time)
		case <-time.After(waitLimit):
			t.Fatalf("%d of 2 emits handled", len(times))
		}
	}
	if !times[0].Equal(times[1]) {
		t.Fatalf("the emits of one run have times %v and %v, want one", times[0], times[1])
	}
	if times[0].Before(window[0]) || times[0].After(window[1]) {
		t.Fatalf("the emits' time %v is not within the emits, %v to %v", times[0], window[0], window[1])
	}
}
