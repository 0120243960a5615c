package host_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// versionWAT is a reactor that, for every event, emits one "handled"
// event whose data names the version ("v1", "v2").
func versionWAT(t testing.TB, version string) []byte {
	t.Helper()
	var env []byte
	env = event.AppendAttr(env, "type", "handled")
	env = append(env, 0)
	env = append(env, version...)
	var esc strings.Builder
	for _, c := range env {
		fmt.Fprintf(&esc, "\\%02x", c)
	}
	return wasmbuild.WAT(t, fmt.Sprintf(`(module
  (import "evhost" "emit" (func $emit (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "%s")
  (func (export "evhost_abi_version") (result i32) (i32.const 1))
  (func (export "evhost_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "evhost_handle") (param i32 i32) (result i32)
    (drop (call $emit (i32.const 16) (i32.const %d)))
    (i32.const 0)))`, esc.String(), len(env)))
}

// failures is a dispatch.Observer that keeps every outcome that is not
// Done.
type failures struct {
	mu   sync.Mutex
	seen []string
}

func (f *failures) Handled(route string, ev *event.Event, attempt int, out dispatch.Outcome, _ time.Duration) {
	if out.Status != dispatch.Done || attempt > 1 {
		f.mu.Lock()
		f.seen = append(f.seen, fmt.Sprintf("%s %s attempt %d: %v %s", route, ev.ID, attempt, out.Status, out.Reason))
		f.mu.Unlock()
	}
}

func (f *failures) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

// reloadHost boots a host with plugin "ver" from path and a native route
// that records every "handled" event by its cause.
func reloadHost(t *testing.T, dir, path string, fails *failures) (*host.Host, *handledLog) {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(`
[host]
data_dir = "data"
[defaults]
queue = 100000
[plugins.ver]
path = %q
events = ["work"]
concurrency = 4
`, path)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Observer: fails})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	log := &handledLog{by: map[string][]string{}, changed: make(chan struct{}, 1)}
	h.Handle("observer", []string{"handled"}, func(_ context.Context, ev *event.Event, _ func(*event.Event)) error {
		cause, _ := ev.Ext(event.ExtCausationID)
		log.add(cause, string(ev.Data))
		return nil
	})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h, log
}

type handledLog struct {
	mu      sync.Mutex
	by      map[string][]string // cause -> versions that handled it
	n       int
	changed chan struct{}
}

func (l *handledLog) add(cause, version string) {
	l.mu.Lock()
	l.by[cause] = append(l.by[cause], version)
	l.n++
	l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// waitCount waits until n events were recorded.
func (l *handledLog) waitCount(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		l.mu.Lock()
		got := l.n
		l.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-l.changed:
		case <-deadline:
			t.Fatalf("%d of %d events handled", got, n)
		}
	}
}

// publishAll publishes n work events, waiting out backpressure; it returns
// their ids.
func publishAll(t *testing.T, h *host.Host, n int, stop <-chan struct{}) []string {
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		ev := &event.Event{Type: "work"}
		for {
			_, err := h.Publish(context.Background(), ev)
			if err == nil {
				break
			}
			if !errors.Is(err, bus.ErrBackpressure) {
				t.Error(err)
				return ids
			}
			time.Sleep(time.Millisecond) // the queue is full: give the workers room
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

// The hammer: events are published continuously while the plugin is
// swapped between two versions many times. Every event is handled exactly
// once, none fails, each by exactly one version, and no call starts on a
// version after it was swapped out.
func TestReloadHammer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ver.wasm")
	v1, v2 := versionWAT(t, "v1"), versionWAT(t, "v2")
	if err := os.WriteFile(path, v1, 0o644); err != nil {
		t.Fatal(err)
	}
	fails := &failures{}
	h, log := reloadHost(t, dir, path, fails)
	const n, swaps = 20000, 60
	idsCh := make(chan []string)
	go func() { idsCh <- publishAll(t, h, n, nil) }()
	for i := 0; i < swaps; i++ {
		log.waitCount(t, i*n/swaps) // spread the swaps over the run, under load
		next := v2
		if i%2 == 1 {
			next = v1
		}
		if err := os.WriteFile(path, next, 0o644); err != nil {
			t.Fatal(err)
		}
		old := h.Plugin("ver")
		if err := h.ReloadPlugin(context.Background(), "ver"); err != nil {
			t.Fatal(err)
		}
		// Once swapped, the old version only finishes what it had begun:
		// the calls it completed plus those in flight bound its final count.
		s := old.Stats()
		bound := s.Calls + uint64(s.Instances-s.Idle)
		go func() {
			<-old.Done()
			if final := old.Stats().Calls; final > bound {
				t.Errorf("a call started on a swapped-out version: %d calls, at most %d were begun at the swap", final, bound)
			}
		}()
	}
	ids := <-idsCh
	log.waitCount(t, n)
	log.mu.Lock()
	defer log.mu.Unlock()
	versions := map[string]int{}
	for _, id := range ids {
		vs := log.by[id]
		if len(vs) != 1 {
			t.Fatalf("event %s handled %d times: %v", id, len(vs), vs)
		}
		versions[vs[0]]++
	}
	if len(log.by) != n {
		t.Fatalf("%d events handled, %d published", len(log.by), n)
	}
	if f := fails.list(); len(f) > 0 {
		t.Fatalf("%d failed attempts, first: %s", len(f), f[0])
	}
	if versions["v1"] == 0 || versions["v2"] == 0 {
		t.Fatalf("versions seen: %v", versions)
	}
	t.Logf("%d events over %d swaps: %v", n, swaps, versions)
}

// Each broken kind of module swapped in under load is refused; the old
// version keeps serving and no event fails.
func TestReloadRefusesBrokenModules(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ver.wasm")
	good := versionWAT(t, "v1")
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	fails := &failures{}
	h, log := reloadHost(t, dir, path, fails)
	garbage, err := os.ReadFile("wasm/testdata/garbage.wasm")
	if err != nil {
		t.Fatal(err)
	}
	broken := map[string][]byte{
		"garbage bytes":       garbage,
		"missing export":      wasmbuild.WATFile(t, "wasm/testdata/missing_handle.wat"),
		"wrong ABI version":   wasmbuild.WATFile(t, "wasm/testdata/badabi.wat"),
		"trap in _initialize": wasmbuild.WATFile(t, "wasm/testdata/inittrap.wat"),
		"import not granted":  wasmbuild.WATFile(t, "wasm/testdata/kvimport.wat"),
		"half-written module": good[:len(good)/2],
	}
	const perCase = 300
	total := 0
	for name, bin := range broken {
		t.Run(name, func(t *testing.T) {
			idsCh := make(chan []string)
			go func() { idsCh <- publishAll(t, h, perCase, nil) }()
			if err := os.WriteFile(path, bin, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := h.ReloadPlugin(context.Background(), "ver"); err == nil {
				t.Fatal("a broken module was accepted")
			}
			<-idsCh
			total += perCase
			log.waitCount(t, total)
			info := h.Plugins()[0]
			if info.LastRefusal == nil || info.Version != wasm.Hash(good) {
				t.Fatalf("plugins: %+v", info)
			}
		})
	}
	if f := fails.list(); len(f) > 0 {
		t.Fatalf("%d failed attempts, first: %s", len(f), f[0])
	}
}
