package natsbus_test

import (
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/natsbus"
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

// TestPendingRefreshesWhenIdle: a bus that neither publishes nor fetches
// still learns, through Pending itself, what another bus published to a
// subscription they share.
func TestPendingRefreshesWhenIdle(t *testing.T) {
	srv := standalone(t, t.TempDir(), -1)
	opts := natsbus.Options{URLs: []string{srv.ClientURL()}, Prefix: uniquePrefix()}
	idle, busy := open(t, opts), open(t, opts)
	defer closeBus(t, busy)
	defer closeBus(t, idle)
	sub := bus.Subscription{Name: "shared", Patterns: []string{"pend.a"}}
	subscribe(t, idle, sub)
	subscribe(t, busy, sub)
	for range 4 {
		publish(t, busy, newEvent("pend.a"))
	}
	waitPending(t, idle, "shared", 4)
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
