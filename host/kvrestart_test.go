package host_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// A plugin that counts with kv_* at concurrency 1 keeps its count across a
// restart of the host on the embedded broker: its key-value space lives in
// the broker's store under the data directory, not in the process.
func TestKVSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(`
[host]
data_dir = "data"
[broker]
kind = "embedded"
[plugins.kvcount]
path = %q
events = ["count"]
concurrency = 1
kv = true
`, writeWasm(t, dir, "kvcount", wasmbuild.Go(t, "wasm/testdata/goplugins/kvcount")))))
	if err != nil {
		t.Fatal(err)
	}
	run := func(events int) []string {
		t.Helper()
		h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			if err := h.Close(ctx); err != nil {
				t.Errorf("close: %v", err)
			}
		}()
		counts := make(chan string, events)
		h.Handle("collect", []string{"kv.count"}, func(_ context.Context, ev *event.Event, _ func(*event.Event)) error {
			counts <- string(ev.Data)
			return nil
		})
		if err := h.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < events; i++ {
			if _, err := h.Publish(context.Background(), &event.Event{Type: "count"}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		for len(got) < events {
			select {
			case c := <-counts:
				got = append(got, c)
			case <-time.After(waitLimit):
				t.Fatalf("saw counts %v, want %d of them", got, events)
			}
		}
		// The collector may run its calls concurrently: order what it saw.
		slices.SortFunc(got, func(a, b string) int {
			x, _ := strconv.Atoi(a)
			y, _ := strconv.Atoi(b)
			return x - y
		})
		return got
	}
	if got := fmt.Sprint(run(3)); got != "[1 2 3]" {
		t.Fatalf("first run counted %s, want [1 2 3]", got)
	}
	if got := fmt.Sprint(run(2)); got != "[4 5]" {
		t.Fatalf("after a restart counted %s, want [4 5]", got)
	}
}
