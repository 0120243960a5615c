package event

import (
	"testing"
	"time"
)

func TestResolveDelay(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	e := &Event{}
	e.SetExt(ExtDelay, "90s")
	if err := ResolveDelay(e, now); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Ext(ExtDelay); ok {
		t.Error("delay kept")
	}
	if at, ok := DeliverAt(e); !ok || !at.Equal(now.Add(90*time.Second)) {
		t.Errorf("deliverat %v %v", at, ok)
	}
	if err := CheckDelay(e, now, time.Minute); err == nil {
		t.Error("90s ahead passed a max of 1m")
	}
	if err := CheckDelay(e, now, time.Hour); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct{ delay, at string }{
		{"soon", ""}, {"-1s", ""}, {"0s", ""}, {"", "tomorrow"}, {"1s", "2030-01-01T00:00:00Z"},
	} {
		e := &Event{}
		if tc.delay != "" {
			e.SetExt(ExtDelay, tc.delay)
		}
		if tc.at != "" {
			e.SetExt(ExtDeliverAt, tc.at)
		}
		before := len(e.Extensions)
		if err := ResolveDelay(e, now); err == nil {
			t.Errorf("delay %q deliverat %q: no error", tc.delay, tc.at)
		}
		if len(e.Extensions) != before {
			t.Errorf("delay %q deliverat %q: changed the event", tc.delay, tc.at)
		}
		if CheckDelay(e, now, 0) == nil {
			t.Errorf("delay %q deliverat %q: CheckDelay passed it", tc.delay, tc.at)
		}
	}
	// Stamp resolves a delay from its now.
	s := &Event{}
	s.SetExt(ExtDelay, "1m")
	Stamp(s, "src", now)
	if at, ok := DeliverAt(s); !ok || !at.Equal(now.Add(time.Minute)) || HasDelay(&Event{}) || !HasDelay(s) {
		t.Errorf("Stamp: %v %v", at, ok)
	}
}
