package runlog_test

import (
	"context"
	"fmt"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/runlog"
)

// A Recorder takes runs off the dispatcher's workers and appends them to a
// Store; the trace of an event reads them back.
func Example() {
	ctx := context.Background()
	store := runlog.NewMemory(0)
	rec := runlog.NewRecorder(store, runlog.RecorderOptions{
		Describe: func(route string) (string, string) { return "charge", "9f86d081" },
	})

	ev := &event.Event{ID: "order-1", Source: "/shop", Type: "order.placed", SpecVersion: event.SpecVersion}
	child := &event.Event{Type: "payment.charged"}
	event.StampChild(child, ev, "evhost://plugin/charge", "payment", 0, time.Now())
	// What the daemon's dispatch.Observer does for each handled delivery:
	rec.Handled("payment", ev, 1, "retry", "card processor timed out", nil, 30*time.Millisecond)
	rec.Handled("payment", ev, 2, "done", "", []*event.Event{child}, 12*time.Millisecond)

	if err := rec.Close(ctx); err != nil { // appends what it holds
		fmt.Println(err)
	}
	runs, _ := store.ByEvent(ctx, "order-1")
	for _, r := range runs {
		fmt.Printf("%s %s@%s attempt %d: %s %q, %d emitted\n", r.Subscription, r.Plugin, r.Version, r.Attempt, r.Status, r.Reason, len(r.Emits))
	}
	// Output:
	// payment charge@9f86d081 attempt 1: retry "card processor timed out", 0 emitted
	// payment charge@9f86d081 attempt 2: done "", 1 emitted
}
