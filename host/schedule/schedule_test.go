package schedule_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/schedule"
)

// collector counts the events of a subscription, by id.
type collector struct {
	mu    sync.Mutex
	ids   map[string]int
	order []string
}

func collect(t *testing.T, b bus.Bus, name, typ string) *collector {
	t.Helper()
	s, err := b.Subscribe(t.Context(), bus.Subscription{Name: name, Patterns: []string{typ}})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{ids: map[string]int{}}
	go func() {
		for {
			d, err := s.Next(context.Background())
			if err != nil {
				return
			}
			c.mu.Lock()
			c.ids[d.Event().ID]++
			c.order = append(c.order, d.Event().ID)
			c.mu.Unlock()
			d.Ack()
		}
	}()
	t.Cleanup(func() { s.Close() })
	return c
}

func (c *collector) snapshot() (map[string]int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for k, v := range c.ids {
		m[k] = v
	}
	return m, append([]string(nil), c.order...)
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tick(every time.Duration, catchUp bool) schedule.Spec {
	return schedule.Spec{
		Name: "tick", Every: every, Times: schedule.Every(every), CatchUp: catchUp, Enabled: true,
		Event: event.Event{Type: "clock.tick", Data: []byte("t")},
	}
}

// daemon is one daemon's bus and runner on the shared NATS server.
type daemon struct {
	b *natsbus.Bus
	r *schedule.Runner
}

func startDaemon(t *testing.T, url string, spec schedule.Spec) *daemon {
	t.Helper()
	b, err := natsbus.Open(t.Context(), natsbus.Options{URLs: []string{url}, Prefix: "sched"})
	if err != nil {
		t.Fatal(err)
	}
	store, err := natsbus.ScheduleStore(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	r := schedule.New(schedule.Options{Publisher: b, State: schedule.KVState{Store: store}})
	r.Apply([]schedule.Spec{spec})
	r.Start()
	return &daemon{b, r}
}

func (d *daemon) stop(t *testing.T) {
	d.r.Close()
	if err := d.b.Close(context.Background()); err != nil {
		t.Error(err)
	}
}

// Two daemons on one NATS server run a schedule of every second for 20
// seconds; one of them is stopped after 7 seconds and started again at
// 12. The broker gets one event per tick: 20, give or take the one at an
// end, none twice; and the two daemons shared the publishing.
func TestTwoDaemonsOneEventPerTick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 20 seconds")
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	url := srv.ClientURL()
	spec := tick(time.Second, true)

	watcher, err := natsbus.Open(t.Context(), natsbus.Options{URLs: []string{url}, Prefix: "sched"})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close(context.Background())
	c := collect(t, watcher, "watch", "clock.tick")

	start := time.Now()
	a := startDaemon(t, url, spec)
	b := startDaemon(t, url, spec)
	time.Sleep(time.Until(start.Add(7 * time.Second)))
	b.stop(t)
	time.Sleep(time.Until(start.Add(12 * time.Second)))
	b = startDaemon(t, url, spec)
	time.Sleep(time.Until(start.Add(20 * time.Second)))
	a.stop(t)
	b.stop(t)
	end := time.Now()

	want := int(end.Sub(start) / time.Second)
	waitFor(t, 5*time.Second, "the last events", func() bool { m, _ := c.snapshot(); return len(m) >= want-1 })
	time.Sleep(300 * time.Millisecond) // a late duplicate would show now
	ids, order := c.snapshot()
	t.Logf("%d events in %v: %v ... %v", len(ids), end.Sub(start).Round(time.Millisecond), order[0], order[len(order)-1])
	if len(ids) < 19 || len(ids) > 21 {
		t.Errorf("%d events; want 20 plus or minus 1", len(ids))
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	if len(order) != len(ids) {
		t.Errorf("%d deliveries of %d events", len(order), len(ids))
	}
	la, lb := a.r.List()[0], b.r.List()[0]
	t.Logf("daemon a: %d published, %d duplicates; b (after its restart): %d, %d", la.Produced, la.Duplicates, lb.Produced, lb.Duplicates)
	if la.Errors+lb.Errors != 0 {
		t.Errorf("errors: %q, %q", la.LastError, lb.LastError)
	}
}

// After a downtime, catch_up "one" publishes the latest missed tick once
// at start, and "none" skips to the next tick.
func TestCatchUp(t *testing.T) {
	for _, catchUp := range []bool{true, false} {
		b := membus.New(membus.Options{})
		defer b.Close(context.Background())
		c := collect(t, b, "watch", "clock.tick")
		state := &schedule.Memory{}
		every := 2 * time.Second
		missed := time.Now().Add(-time.Minute).Truncate(time.Second)
		state.SetLast(t.Context(), "tick", missed)
		r := schedule.New(schedule.Options{Publisher: b, State: state})
		r.Apply([]schedule.Spec{tick(every, catchUp)})
		started := time.Now()
		r.Start()
		waitFor(t, 5*time.Second, "a tick", func() bool { m, _ := c.snapshot(); return len(m) >= 1 })
		r.Close()
		_, order := c.snapshot()
		latest := started.Truncate(every) // every is a whole number of seconds: epoch and zero time agree
		first := order[0]
		if catchUp && first != schedule.TickID("tick", latest) {
			t.Errorf("catch_up one: first event %s; want the latest missed tick %s", first, schedule.TickID("tick", latest))
		}
		if !catchUp && first != schedule.TickID("tick", latest.Add(every)) {
			t.Errorf("catch_up none: first event %s; want the next tick %s", first, schedule.TickID("tick", latest.Add(every)))
		}
		info := r.List()[0]
		if info.Produced != uint64(len(order)) || info.Last == nil {
			t.Errorf("listing %+v after %d events", info, len(order))
		}
	}
}

// Apply keeps an unchanged schedule running, stops a removed one, and
// lists disabled ones without running them.
func TestApply(t *testing.T) {
	b := membus.New(membus.Options{})
	defer b.Close(context.Background())
	r := schedule.New(schedule.Options{Publisher: b})
	defer r.Close()
	s := tick(time.Hour, false)
	off := tick(time.Hour, false)
	off.Name, off.Enabled = "off", false
	r.Apply([]schedule.Spec{s, off})
	r.Start()
	waitFor(t, 2*time.Second, "the next tick", func() bool { return r.List()[0].Next != nil })
	l := r.List()
	if len(l) != 2 || l[0].Name != "tick" || !l[0].Enabled || l[1].Enabled || l[0].Every != "1h0m0s" {
		t.Fatalf("list %+v", l)
	}
	if want := time.Now().Truncate(time.Hour).Add(time.Hour); !l[0].Next.Equal(want) {
		t.Errorf("next %v; want %v", l[0].Next, want)
	}
	r.Apply(nil)
	if l := r.List(); len(l) != 0 {
		t.Errorf("after removing every schedule: %+v", l)
	}
}
