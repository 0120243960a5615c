package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/backup"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
)

// idSet is a set of event ids, safe for concurrent use.
type idSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (s *idSet) add(id string) {
	s.mu.Lock()
	s.ids[id] = true
	s.mu.Unlock()
}

func (s *idSet) missing(want []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range want {
		if !s.ids[id] {
			out = append(out, id)
		}
	}
	return out
}

// `evhost backup` of a daemon while a producer publishes, and `evhost
// restore` into a fresh data directory: the restored daemon's journal holds
// every event accepted before the backup began, and the subscription that
// had them pending (its handler off in the first daemon) handles each of
// them. A restore into a store that has streams is refused.
func TestBackupWhileEventsFlowRestoreFresh(t *testing.T) {
	t.Setenv("EVHOST_TOKEN", "")
	ctx := context.Background()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.toml")
	text := "[host]\ndata_dir = \"d1\"\ntoken = \"s3cret\"\nshutdown_timeout = \"5s\"\n[defaults]\nqueue = 100000\n"
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	h1, err := host.New(ctx, cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done := func(context.Context, *event.Event, func(*event.Event)) error { return nil }
	for _, name := range []string{"orders", "audit"} {
		if err := h1.Handle(name, []string{"order.*"}, done); err != nil {
			t.Fatal(err)
		}
	}
	addr := serveHost(t, h1)
	// audit's handler goes away; its subscription keeps what arrives.
	if err := h1.Unhandle("audit"); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var accepted []string
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(accepted) }
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() { // the producer
		defer close(stopped)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			id := fmt.Sprintf("order-%d", i)
			if _, err := h1.Publish(ctx, &event.Event{ID: id, Type: "order.placed", Source: "/backup-test"}); err == nil {
				mu.Lock()
				accepted = append(accepted, id)
				mu.Unlock()
			}
		}
	}()
	for deadline := time.Now().Add(time.Minute); count() < 300; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the producer got %d events accepted in a minute", count())
		}
	}
	mu.Lock()
	before := append([]string(nil), accepted...)
	mu.Unlock()
	bk := filepath.Join(dir, "backup")
	code, out, errOut := runCLI("backup", "--config", cfgPath, "--addr", addr, "--token", "s3cret", bk)
	during := count() - len(before)
	close(stop)
	<-stopped
	if code != exitOK {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("backup: %d events accepted before it, %d while it ran\n%s", len(before), during, out)
	if during == 0 {
		t.Error("no event was accepted while the backup ran: the test shows nothing about a backup of a busy daemon")
	}
	m, err := backup.Read(bk)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m.Streams {
		if s.Name == "evhost_events" && s.Consumers != 2 {
			t.Errorf("the backup's events stream has %d consumers, want 2 (orders, audit)", s.Consumers)
		}
	}
	b, _ := json.Marshal(m)
	for _, want := range []string{"evhost_events", "evhost_dlq", "evhost_runs"} {
		if !strings.Contains(string(b), `"name":"`+want+`"`) {
			t.Errorf("the manifest has no stream %s: %s", want, b)
		}
	}
	if code, _, errOut := runCLI("backup", "--config", cfgPath, "--addr", addr, "--token", "s3cret", bk); code != exitError || !strings.Contains(errOut, "not empty") {
		t.Errorf("a backup into a directory that is not empty: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runCLI("backup", "--config", cfgPath, "--addr", addr, "--token", "nope", filepath.Join(dir, "b2")); code != exitAuth {
		t.Errorf("a backup with a wrong token: exit %d, %s", code, errOut)
	}

	// Into the running daemon's store: refused before touching it.
	if code, _, errOut := runCLI("restore", "--config", cfgPath, bk); code != exitError || !strings.Contains(errOut, "already holds") {
		t.Fatalf("a restore into the running daemon's data directory: exit %d, %s", code, errOut)
	}
	d2 := filepath.Join(dir, "d2")
	code, out, errOut = runCLI("restore", "--config", cfgPath, "--data-dir", d2, bk)
	if code != exitOK {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("restore:\n%s", out)
	if code, _, errOut := runCLI("restore", "--config", cfgPath, "--data-dir", d2, bk); code != exitError || !strings.Contains(errOut, "already holds") {
		t.Fatalf("a second restore: exit %d, %s", code, errOut)
	}

	cfg2, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg2.Host.DataDir, cfg2.Host.ResolvedDataDir = d2, d2
	h2, err := host.New(ctx, cfg2, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	audited := &idSet{ids: map[string]bool{}}
	if err := h2.Handle("orders", []string{"order.*"}, done); err != nil {
		t.Fatal(err)
	}
	if err := h2.Handle("audit", []string{"order.*"}, func(_ context.Context, ev *event.Event, _ func(*event.Event)) error {
		audited.add(ev.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	serveHost(t, h2)

	journal := &idSet{ids: map[string]bool{}}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = h2.Bus().(*natsbus.Bus).Read(rctx, bus.Range{Patterns: []string{"order.*"}}, func(r bus.Recorded) error {
		journal.add(r.Event.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if miss := journal.missing(before); len(miss) > 0 {
		t.Fatalf("the restored journal lacks %d of the %d events accepted before the backup, e.g. %v", len(miss), len(before), miss[:min(5, len(miss))])
	}
	t.Logf("the restored journal holds %d events (%d accepted before the backup)", len(journal.ids), len(before))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		miss := audited.missing(before)
		if len(miss) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restored daemon handled %d of the %d pending events, e.g. not %v", len(before)-len(miss), len(before), miss[:min(5, len(miss))])
		}
	}
	audited.mu.Lock()
	defer audited.mu.Unlock()
	for id := range audited.ids {
		if !journal.ids[id] {
			t.Errorf("the restored daemon handled %s, which its journal does not hold", id)
		}
	}
}
