package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// syncBuffer is a bytes.Buffer for a logger written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// Every log line about an event carries its id, type, subscription and
// attempt: the plugin's own lines (also attributed to the plugin) and the
// dispatcher's lines about a failed attempt and a dead letter.
func TestLogLinesAboutAnEventCarryItsAttributes(t *testing.T) {
	dir := t.TempDir()
	echo := writeWasm(t, dir, "echo", wasmbuild.WATFile(t, "wasm/testdata/echo.wat"))
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(`
[host]
data_dir = "data"
[broker]
kind = "memory"
[plugins.shipping]
path = %q
events = ["order.*"]
max_attempts = 2
backoff = "1ms"
`, echo)))
	if err != nil {
		t.Fatal(err)
	}
	var buf syncBuffer
	ctx := context.Background()
	counter := newHandledCounter()
	h, err := host.New(ctx, cfg, host.Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Observer: counter})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []*event.Event{
		{ID: "log-1", Type: "order.placed", DataContentType: "text/plain", Data: []byte("lpacking order")},
		{ID: "fail-1", Type: "order.cancelled", DataContentType: "text/plain", Data: []byte("rwarehouse offline")},
	} {
		if _, err := h.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	counter.wait(t, "shipping", 1)
	waitFor(t, "the dead letter", func() bool {
		dls, err := h.Bus().DeadLetters(ctx, bus.DeadLetterFilter{Subscription: "shipping"})
		return err == nil && len(dls) == 1
	})
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{ // message -> event id, attempt
		"packing order":                              "log-1 1",
		"handler failed; will retry":                 "fail-1 1",
		"event dead-lettered after its last attempt": "fail-1 2",
	}
	seen := map[string]bool{}
	for _, l := range buf.lines(t) {
		msg, _ := l["msg"].(string)
		w, ok := want[msg]
		if !ok {
			if _, about := l["event_id"]; about && (l["subscription"] == nil || l["attempt"] == nil || l["event_type"] == nil) {
				t.Errorf("a line about an event without its subscription, type or attempt: %v", l)
			}
			continue
		}
		seen[msg] = true
		id, attempt, _ := strings.Cut(w, " ")
		if l["event_id"] != id || fmt.Sprint(l["attempt"]) != attempt || l["subscription"] != "shipping" || l["event_type"] == nil {
			t.Errorf("%q: event_id %v, attempt %v, subscription %v, event_type %v; want %s, %s, shipping and a type",
				msg, l["event_id"], l["attempt"], l["subscription"], l["event_type"], id, attempt)
		}
		if msg == "packing order" && l["plugin"] != "shipping" {
			t.Errorf("plugin line not attributed to the plugin: %v", l)
		}
	}
	for msg := range want {
		if !seen[msg] {
			t.Errorf("no log line %q in:\n%s", msg, buf.b.String())
		}
	}
}
