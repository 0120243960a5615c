package main

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The daemon on its embedded broker, killed with SIGKILL while events pour
// in and its subscriptions are part-way through them, loses none of the
// events it accepted and doubles no emit: restarted on the same data
// directory, it handles every accepted event in each subscription, and
// each handled event has one emit in the stream, not two, although the
// deliveries the killed process held are handled again.
func TestCrashKillLosesNoAcceptedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon and a plugin; waits out an ack wait of 10s")
	}
	t.Parallel()
	const n = 5000
	bin, wasm := buildEvhost(t), handledWasm(t)
	dataDir := t.TempDir()
	natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	broker := fmt.Sprintf("kind = \"embedded\"\nlisten = %q", natsAddr)

	// Each call takes 40ms: with 16 at once, a subscription handles at most
	// 400 events a second.
	d := startEvhost(t, bin, "run1", testConfig(broker, wasm, "run1", "40ms"), dataDir)
	// The test watches the stream through the embedded server's listener;
	// the connection comes back by itself after the restart.
	_, js := natsConnect(t, "nats://"+natsAddr)

	p := newProducer()
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	left := make(chan []string, 1)
	// The producer sends a steady stream of 2000 events a second at most,
	// five times what the subscriptions handle.
	go func() {
		left <- p.feed(ctx, jobIDs(0, n), 2, 10, 10*time.Millisecond, func() []string { return []string{d.addr} })
	}()

	// Kill once each subscription has handled a twentieth of the events,
	// with more waiting behind them.
	atKill := waitProgress(t, js, time.Minute, "each subscription handling a twentieth of the events",
		func(pr progress) bool { return pr.handled >= n/20 })
	d.kill(t)
	acceptedBefore := p.acceptedIDs()
	stop()
	rest := <-left
	t.Logf("killed with %d events accepted, %d not yet; the consumers a moment before: %v", len(acceptedBefore), len(rest), atKill)
	for _, s := range testSubs {
		if ci := atKill.infos[s.name]; ci.NumPending < 50 {
			t.Fatalf("%s had only %d events waiting at the kill: not the test this means to be", s.name, ci.NumPending)
		}
	}

	// Restarted, the daemon takes the events it did not accept before.
	d = startEvhost(t, bin, "run2", testConfig(broker, wasm, "run2", "40ms"), dataDir)
	start := time.Now()
	if rest = p.feed(t.Context(), rest, 4, 20, 0, func() []string { return []string{d.addr} }); len(rest) > 0 {
		t.Fatalf("%d events never accepted: %v", len(rest), head(rest))
	}
	// Deliveries the killed daemon held come again when their ack wait
	// (10s) ends.
	waitProgress(t, js, 90*time.Second, "the subscriptions draining", progress.drained)
	t.Logf("drained %v after the restart; refusals: %v", time.Since(start).Round(time.Millisecond), p.refusals())

	j := readJournal(t, js)
	accepted := p.acceptedIDs()
	if len(accepted) != n {
		t.Fatalf("%d events accepted, want %d", len(accepted), n)
	}
	j.check(t, js, accepted)

	// The events that waited at the kill were handled after the restart.
	before := map[string]bool{}
	for _, id := range acceptedBefore {
		before[id] = true
	}
	for _, s := range testSubs {
		nodes := map[string]int{}
		recovered := 0
		for _, e := range j.emits[s.name] {
			nodes[e.node]++
			if before[e.parent] && e.node == "run2" {
				recovered++
			}
		}
		t.Logf("%s: emits by run %v; %d of the events accepted before the kill were handled after the restart", s.name, nodes, recovered)
		if recovered == 0 {
			t.Errorf("%s: no event accepted before the kill was left for the restarted daemon", s.name)
		}
	}
}
