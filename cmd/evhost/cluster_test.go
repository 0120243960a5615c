package main

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// Two daemons on a three-node NATS cluster (kind = "nats", streams R3)
// share each subscription's work; one daemon killed while events pour in
// leaves its part to the other, and one NATS node shut down (the event
// stream's leader) stops neither publishing nor handling. Every event
// accepted through either daemon is handled by each subscription, with
// one emit in the stream, not two.
func TestClusterSurvivesADaemonAndANode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon and a plugin, runs a NATS cluster; waits out an ack wait of 10s")
	}
	t.Parallel()
	const n = 4000
	bin, wasm := buildEvhost(t), handledWasm(t)
	nodes := startNATSCluster(t, 3)
	var urls []string
	for _, s := range nodes {
		urls = append(urls, s.ClientURL())
	}
	broker := fmt.Sprintf("kind = \"nats\"\nurl = %q\nreplicas = 3", strings.Join(urls, ","))
	// Both at once on the fresh cluster: they create the same R3 streams
	// concurrently (natsbus tries again an attempt that hangs).
	d1 := launchEvhost(t, bin, "d1", testConfig(broker, wasm, "d1", "20ms"), t.TempDir())
	d2 := launchEvhost(t, bin, "d2", testConfig(broker, wasm, "d2", "20ms"), t.TempDir())
	d1.waitServing(t)
	d2.waitServing(t)
	_, js := natsConnect(t, strings.Join(urls, ","))

	// The producer spreads its batches over the daemons it knows alive,
	// and sends what one refused to the next.
	var live atomic.Pointer[[]string]
	live.Store(&[]string{d1.addr, d2.addr})
	p := newProducer()
	left := make(chan []string, 1)
	go func() { left <- p.feed(t.Context(), jobIDs(0, n), 4, 10, 0, func() []string { return *live.Load() }) }()

	// Kill d2 once a third of the events are in and some handled.
	waitProgress(t, js, time.Minute, "a third of the events accepted, some handled",
		func(pr progress) bool { return p.n.Load() >= n/3 && pr.handled >= n/10 })
	live.Store(&[]string{d1.addr})
	d2.kill(t)
	atStop := lastSeq(t, js)
	t.Logf("killed d2 with %d events accepted, stream at sequence %d", p.n.Load(), atStop)

	// Shut down the node that leads the event stream once two thirds of
	// the events are in.
	waitProgress(t, js, time.Minute, "two thirds of the events accepted",
		func(progress) bool { return p.n.Load() >= 2*n/3 })
	leader := streamLeader(t, js)
	acceptedAtLoss := p.n.Load()
	start := time.Now()
	for _, s := range nodes {
		if s.Name() == leader {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}
	t.Logf("shut down node %s (the stream's leader) with %d events accepted", leader, acceptedAtLoss)

	if rest := <-left; len(rest) > 0 {
		t.Fatalf("%d events never accepted: %v", len(rest), head(rest))
	}
	t.Logf("every event accepted %v after the node's loss; refusals: %v", time.Since(start).Round(time.Millisecond), p.refusals())
	if acceptedAtLoss >= n {
		t.Errorf("every event was in before the node went: publishing through the loss was not tested")
	}
	waitProgress(t, js, 90*time.Second, "the subscriptions draining", progress.drained)
	t.Logf("drained %v after the node's loss", time.Since(start).Round(time.Millisecond))

	j := readJournal(t, js)
	accepted := p.acceptedIDs()
	if len(accepted) != n {
		t.Fatalf("%d events accepted, want %d", len(accepted), n)
	}
	j.check(t, js, accepted)
	for _, s := range testSubs {
		all, after := j.byNode(s.name, 0), j.byNode(s.name, atStop)
		t.Logf("%s: emits by daemon %v; of events stored after d2's kill %v", s.name, all, after)
		if all["d1"] == 0 || all["d2"] == 0 {
			t.Errorf("%s: the daemons did not share the work: %v", s.name, all)
		}
		if after["d1"] == 0 || after["d2"] != 0 {
			t.Errorf("%s: events stored after d2's kill were not handled by d1 alone: %v", s.name, after)
		}
	}
}

// startNATSCluster runs a NATS cluster of size servers (n1, n2, ...) with
// JetStream on loopback, each with its files in a directory of the test,
// and waits until it has a JetStream meta leader.
func startNATSCluster(t *testing.T, size int) []*server.Server {
	t.Helper()
	var routes []string
	ports := make([]int, size)
	for i := range ports {
		ports[i] = freePort(t)
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i]))
	}
	servers := make([]*server.Server, size)
	for i := range servers {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			Cluster:    server.ClusterOpts{Name: "evhost-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
			NoSigs:     true,
		})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		servers[i] = s
	}
	for _, s := range servers {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("NATS server %s not ready", s.Name())
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		leaders, current := 0, 0
		for _, s := range servers {
			if s.JetStreamIsLeader() {
				leaders++
			}
			if s.JetStreamIsCurrent() {
				current++
			}
		}
		if leaders == 1 && current == size {
			return servers
		}
		if time.Now().After(deadline) {
			t.Fatalf("the NATS cluster has no JetStream meta leader after 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func lastSeq(t *testing.T, js jetstream.JetStream) uint64 {
	return streamInfo(t, js, eventsStream).State.LastSeq
}

// streamLeader returns the name of the server that leads the event stream.
func streamLeader(t *testing.T, js jetstream.JetStream) string {
	t.Helper()
	var leader string
	retryJS(t, "the event stream's leader", func(ctx context.Context) error {
		s, err := js.Stream(ctx, eventsStream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return fmt.Errorf("stream %s has no leader", eventsStream)
		}
		leader = info.Cluster.Leader
		return nil
	})
	return leader
}
