package natsbus

import (
	"testing"
	"time"
)

// ask's arithmetic, on a clock of its own: a burst of callers that were
// all waiting is no rate to ask ahead at; callers that keep up reach
// maxPull within a few requests; slow callers are asked for alone.
func TestAskBoundsABurst(t *testing.T) {
	c := &subscriber{sub: newSubscription("ask", &subConfig{})}
	t0 := time.Unix(1_700_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	// A fresh consumer: 16 callers waiting, no rate yet.
	c.callers.Store(16)
	if n, ahead := c.ask(1, at(0)); n != 16 || ahead {
		t.Fatalf("first request: %d (ahead %v), want 16 for the callers waiting", n, ahead)
	}
	// They took one each within 2 ms; one comes back. The old arithmetic
	// made that 8,000 a second and asked for 400.
	c.handed = 16
	c.callers.Store(1)
	if n, _ := c.ask(1, at(2*time.Millisecond)); n > 32 {
		t.Errorf("after a burst of 16: asks for %d, want at most 32", n)
	}

	// Callers that keep up: all they asked for, taken within a
	// millisecond each time.
	c = &subscriber{sub: newSubscription("ask", &subConfig{})}
	c.callers.Store(16)
	now := at(0)
	n, _ := c.ask(1, now)
	for i := 0; i < 6; i++ {
		c.handed = n
		now = now.Add(time.Millisecond)
		n, _ = c.ask(1, now)
	}
	if n != maxPull {
		t.Errorf("callers keeping up: asks for %d after 7 requests, want %d", n, maxPull)
	}

	// Slow callers: one delivery every 100 ms, asked for alone.
	c.callers.Store(1)
	for i := 0; i < 3; i++ {
		c.handed = 1
		now = now.Add(100 * time.Millisecond)
		n, ahead := c.ask(1, now)
		if i > 0 && (n != 1 || ahead) {
			t.Errorf("slow callers: asks for %d (ahead %v), want 1", n, ahead)
		}
	}
}
