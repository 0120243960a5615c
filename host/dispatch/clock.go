package dispatch

import (
	"sync/atomic"
	"time"
)

// clockAnchorAge is how long a clock's anchor serves before the wall clock
// is read again.
const clockAnchorAge = time.Second

// clock tells the time with one monotonic clock reading where time.Now
// takes two (the wall clock's and the monotonic clock's; each costs 94-193
// ns on some VMs, a large share of a run): it returns the wall time of an
// anchor, read in full at most once every clockAnchorAge, plus the
// monotonic time elapsed since. A step of the wall clock shows within
// clockAnchorAge, and between two anchors the wall time is off by at most
// what the clock is slewed in that time (NTP slews at most 500 ppm: 0.5
// ms). The times it returns carry a monotonic reading, so time.Since on
// them reads the monotonic clock only. Its zero value is ready to use and
// it is safe for concurrent use.
type clock struct {
	anchor atomic.Pointer[time.Time]
}

// now returns the current time.
func (c *clock) now() time.Time {
	if a := c.anchor.Load(); a != nil {
		if d := time.Since(*a); d >= 0 && d < clockAnchorAge {
			return a.Add(d)
		}
	}
	t := time.Now()
	c.anchor.Store(&t)
	return t
}
