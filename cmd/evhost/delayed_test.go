package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// 100 delayed events, due 1 to 10 seconds after they are published, on
// the daemon's embedded broker; the daemon is killed with SIGKILL 4
// seconds in and started again 2 seconds later. Each event reaches the
// event stream (where every subscription reads it) once: none before its
// time, none more than a second after its time or the restart, whichever
// is later. `evhost publish --delay` makes one more; a bad delay is a 400.
func TestDelayedEventsSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon; runs for 14 seconds")
	}
	t.Parallel()
	bin := buildEvhost(t)
	dataDir := t.TempDir()
	natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	config := fmt.Sprintf("[host]\nshutdown_timeout = \"5s\"\n[broker]\nkind = \"embedded\"\nlisten = %q\n", natsAddr)
	d := startEvhost(t, bin, "run1", config, dataDir)

	type ce struct {
		SpecVersion string `json:"specversion"`
		Type        string `json:"type"`
		Source      string `json:"source"`
		ID          string `json:"id"`
		DeliverAt   string `json:"deliverat"`
	}
	start := time.Now()
	due := map[string]time.Time{}
	var batch []ce
	for i := range 100 {
		at := start.Add(time.Second + time.Duration(i)*91*time.Millisecond)
		id := fmt.Sprintf("later-%03d", i)
		due[id] = at
		batch = append(batch, ce{"1.0", "delay.test", "/delayed-test", id, at.UTC().Format(time.RFC3339Nano)})
	}
	body, _ := json.Marshal(batch)
	postBatch := func(addr string, body []byte) (int, string) {
		resp, err := http.Post("http://"+addr+"/v1/events", "application/cloudevents-batch+json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, b := postBatch(d.addr, body); code != http.StatusAccepted {
		t.Fatalf("POST the delayed events: %d %s", code, b)
	}
	// A bad delay is refused, with the attribute named.
	if code, b := postBatch(d.addr, []byte(`[{"specversion":"1.0","type":"delay.test","source":"/x","id":"bad","delay":"soon"}]`)); code != http.StatusBadRequest || !strings.Contains(b, "delay") {
		t.Errorf("a bad delay: %d %s; want 400 naming delay", code, b)
	}
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"publish", "--addr", d.addr, "--id", "cli-later", "--delay", "2s", "delay.test", `{}`}, nil, &out, &errb); code != 0 {
		t.Fatalf("evhost publish --delay: %d %s", code, errb.String())
	}
	due["cli-later"] = time.Now().Add(2 * time.Second)

	time.Sleep(time.Until(start.Add(4 * time.Second)))
	d.kill(t)
	time.Sleep(2 * time.Second) // down: some events come due meanwhile
	d = startEvhost(t, bin, "run2", config, dataDir)
	restarted := time.Now()
	time.Sleep(time.Until(start.Add(12 * time.Second)))

	// Every copy of the events on the stream, with the time it was stored.
	_, js := natsConnect(t, "nats://"+natsAddr)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, eventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"evhost.events.delay.test"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	stored := map[string]time.Time{}
	for len(seen) < len(due) {
		msgs, err := cons.Fetch(200, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range msgs.Messages() {
			n++
			id := m.Headers().Get("ce-id")
			md, _ := m.Metadata()
			seen[id]++
			stored[id] = md.Timestamp
		}
		if n == 0 {
			break
		}
	}
	// Nothing more comes.
	if msgs, err := cons.Fetch(10, jetstream.FetchMaxWait(500*time.Millisecond)); err == nil {
		for m := range msgs.Messages() {
			seen[m.Headers().Get("ce-id")]++
		}
	}
	var afterRestart int
	var late time.Duration
	for id, at := range due {
		if seen[id] != 1 {
			t.Errorf("%s stored %d times; want once", id, seen[id])
			continue
		}
		s := stored[id]
		if s.Before(at.Add(-5 * time.Millisecond)) {
			t.Errorf("%s stored %v before its time", id, at.Sub(s))
		}
		ref := at
		if restarted.After(ref) {
			ref = restarted
		} else {
			afterRestart++
		}
		late = max(late, s.Sub(ref))
		if s.Sub(ref) > time.Second {
			t.Errorf("%s stored %v after its time (or the restart)", id, s.Sub(ref))
		}
	}
	if len(seen) != len(due) {
		t.Errorf("%d distinct events on the stream; want %d", len(seen), len(due))
	}
	t.Logf("restarted %v after the start; %d events due after the restart; the latest came %v after its time (or the restart)",
		restarted.Sub(start).Round(time.Millisecond), afterRestart, late.Round(time.Millisecond))
}
