package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// Two daemons on one NATS server (kind "nats") run a schedule of every
// second for 20 seconds; the second is killed with SIGKILL 7 seconds in and
// started again 5 seconds later. The stream gets one event per tick, every
// tick of those 20 seconds, none twice.
func TestScheduleTwoDaemonsKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon; runs for 20 seconds")
	}
	t.Parallel()
	bin := buildEvhost(t)
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	url := srv.ClientURL()
	config := fmt.Sprintf(`
[host]
shutdown_timeout = "5s"
[broker]
kind = "nats"
url = %q
[[schedules]]
name = "tick"
every = "1s"
type = "clock.tick"
`, url)
	d1 := startEvhost(t, bin, "d1", config, t.TempDir())
	d2 := startEvhost(t, bin, "d2", config, t.TempDir())
	start := time.Now()
	time.Sleep(7 * time.Second)
	d2.kill(t)
	time.Sleep(5 * time.Second)
	d2 = startEvhost(t, bin, "d2-again", config, t.TempDir())
	time.Sleep(time.Until(start.Add(20 * time.Second)))
	end := time.Now()
	d1.kill(t)
	d2.kill(t)

	_, js := natsConnect(t, url)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, eventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"evhost.events.clock.tick"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for {
		msgs, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range msgs.Messages() {
			n++
			seen[m.Headers().Get("ce-id")]++
		}
		if n == 0 {
			break
		}
	}
	inWindow := 0
	for tick := start.Truncate(time.Second).Add(time.Second); !tick.After(end); tick = tick.Add(time.Second) {
		id := "tick@" + tick.UTC().Format(time.RFC3339)
		switch seen[id] {
		case 1:
			inWindow++
		case 0:
			t.Errorf("tick %s missing", id)
		default:
			t.Errorf("tick %s stored %d times", id, seen[id])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
	t.Logf("%d ticks in the %v between both daemons serving and the end; %d on the stream in all", inWindow, end.Sub(start).Round(time.Millisecond), len(seen))
	if inWindow < 19 || inWindow > 21 {
		t.Errorf("%d ticks in 20s; want 20 plus or minus 1", inWindow)
	}
}
