package admin

import (
	"testing"
	"time"

	"github.com/evhost/evhost/host/api"
)

// Rates are computed from samples taken by the status requests, at most
// one a statusSampleEvery, over StatusRateWindow.
func TestStatusRates(t *testing.T) {
	st := &statusTracker{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		c    counts
		want api.Rates
	}{
		// One sample: no rate yet.
		{0, counts{ingested: 10}, api.Rates{}},
		// Too soon for a new sample, but a rate from the first.
		{500 * time.Millisecond, counts{ingested: 20, handled: 5}, api.Rates{WindowSeconds: 0.5, Ingested: 20, Handled: 10}},
		{2 * time.Second, counts{ingested: 30, published: 40, handled: 4, failed: 2, dead: 1},
			api.Rates{WindowSeconds: 2, Ingested: 10, Published: 20, Handled: 2, Failed: 1, DeadLettered: 0.5}},
		// A minute later the first sample is out of the window; the
		// second (at 2s) is the base.
		{62 * time.Second, counts{ingested: 90}, api.Rates{WindowSeconds: 60, Ingested: 1}},
		// After a silence longer than the window, no rate again.
		{200 * time.Second, counts{ingested: 90}, api.Rates{}},
	}
	for _, s := range steps {
		if got := st.rates(t0.Add(s.at), s.c); got != s.want {
			t.Errorf("at %v: %+v, want %+v", s.at, got, s.want)
		}
	}
	if len(st.samples) != 1 {
		t.Errorf("%d samples kept, want 1", len(st.samples))
	}
}
