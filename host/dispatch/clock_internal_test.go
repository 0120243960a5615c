package dispatch

import (
	"testing"
	"time"
)

// The clock's times lie between time.Now readings taken around them, carry
// a monotonic reading, and come from a new anchor once the old one is
// older than clockAnchorAge.
func TestClockTellsTheTime(t *testing.T) {
	var c clock
	for i := range 3 { // the first reading anchors; the next ones derive
		before := time.Now()
		got := c.now()
		after := time.Now()
		if got.Before(before.Add(-time.Millisecond)) || got.After(after.Add(time.Millisecond)) {
			t.Fatalf("reading %d: %v, not between %v and %v", i, got, before, after)
		}
		if got.Round(0) == got {
			t.Fatalf("reading %d: %v carries no monotonic reading", i, got)
		}
		if d := after.Sub(got); d < 0 {
			t.Fatalf("reading %d: monotonically after a later time.Now (%v)", i, d)
		}
	}
	old := time.Now().Add(-2 * clockAnchorAge)
	c.anchor.Store(&old)
	got := c.now()
	if a := c.anchor.Load(); a == nil || *a == old || a.Sub(got) != 0 {
		t.Fatalf("an anchor older than %v was not replaced by the reading: anchor %v, reading %v", clockAnchorAge, a, got)
	}
}
