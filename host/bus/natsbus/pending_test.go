package natsbus_test

import (
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
)

// Pending reports what each subscription holds unsettled, from the bus's
// estimates (no request to the server).
func TestPending(t *testing.T) {
	b := open(t, embedded(t))
	defer closeBus(t, b)
	s := subscribe(t, b, bus.Subscription{Name: "pend", Patterns: []string{"pend.a"}})
	for range 3 {
		publish(t, b, newEvent("pend.a"))
	}
	publish(t, b, newEvent("pend.other"))
	waitPending(t, b, "pend", 3)
	receive(t, s, 1)
	waitPending(t, b, "pend", 2)
}

// waitPending waits until b.Pending()[name] is want (the estimate may be
// refreshed from the server meanwhile).
func waitPending(t *testing.T, b interface{ Pending() map[string]int64 }, name string, want int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := b.Pending()[name]
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Pending[%s] = %d, want %d", name, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
