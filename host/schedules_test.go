package host_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/event"
)

// getScheduleJSON GETs url (no token: the host has none) into v.
func getScheduleJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// A schedule of the config publishes a tick a second on the embedded
// broker; a native handler emits, for the first tick, a delayed event due
// a second later, which reaches its subscription no sooner and shows in
// the trace with its due time. GET /v1/schedules and the status list the
// schedule; a reload without it stops it.
func TestScheduleAndDelayedEmit(t *testing.T) {
	dir := t.TempDir()
	const schedules = `
[[schedules]]
name = "tick"
every = "1s"
type = "clock.tick"
data = { hello = "world" }
`
	h, base := start(t, dir, schedules)
	var (
		mu      sync.Mutex
		first   *event.Event
		arrived = make(chan time.Time, 1)
	)
	if err := h.Handle("relay", []string{"clock.tick"}, func(_ context.Context, ev *event.Event, emit func(*event.Event)) error {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = ev
			later := &event.Event{Type: "clock.later"}
			later.SetExt(event.ExtDelay, "1s")
			emit(later)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.Handle("late", []string{"clock.later"}, func(context.Context, *event.Event, func(*event.Event)) error {
		arrived <- time.Now()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var at time.Time
	select {
	case at = <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the delayed event never arrived")
	}
	mu.Lock()
	tick := first
	mu.Unlock()
	if !strings.HasPrefix(tick.ID, "tick@") || tick.Source != "evhost://schedule/tick" || string(tick.Data) != `{"hello":"world"}` {
		t.Errorf("tick event %+v", tick)
	}
	// The emit was stamped while handling the tick, which came at its time.
	if d := at.Sub(tick.Time); d < time.Second || d > 2500*time.Millisecond {
		t.Errorf("the delayed event arrived %v after its parent tick; want 1s to 2.5s", d)
	}

	h.FlushRuns(t.Context())
	tr, err := h.Trace(t.Context(), tick.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Children) != 1 || tr.Children[0].DeliverAt == nil || tr.Children[0].Type != "clock.later" {
		t.Fatalf("trace of the tick: %+v", tr)
	}
	if due := *tr.Children[0].DeliverAt; due.Sub(*tr.Children[0].Time) != time.Second {
		t.Errorf("due %v, emitted %v: want a second apart", due, tr.Children[0].Time)
	}

	var list api.ScheduleList
	getScheduleJSON(t, base+"/v1/schedules", &list)
	if len(list.Schedules) != 1 || list.Schedules[0].Name != "tick" || list.Schedules[0].Next == nil ||
		list.Schedules[0].Produced < 1 || list.Schedules[0].Every != "1s" {
		t.Fatalf("GET /v1/schedules: %+v", list)
	}
	var st api.Status
	getScheduleJSON(t, base+"/v1/status", &st)
	if len(st.Schedules) != 1 || st.Schedules[0].Name != "tick" {
		t.Errorf("status schedules: %+v", st.Schedules)
	}

	// Reloaded without the schedule, it stops.
	cfg := filepath.Join(dir, "config.toml")
	data, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(data), schedules, "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	getScheduleJSON(t, base+"/v1/schedules", &list)
	if len(list.Schedules) != 0 {
		t.Errorf("after the reload: %+v", list)
	}
}
