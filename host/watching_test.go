package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/api"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// watchedHost boots a watching host on the config file it writes in dir.
func watchedHost(t testing.TB, dir, toml string) *host.Host {
	t.Helper()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Watch: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// waitVersion waits until plugin name serves the module with hash want.
func waitVersion(t testing.TB, h *host.Host, name, want string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if p := h.Plugin(name); p != nil && p.Hash() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin %s never served version %s: %+v", name, want[:12], h.Plugins())
		}
		time.Sleep(time.Millisecond)
	}
}

// Saving a new module over the plugin's file swaps it in (an atomic
// rename, as editors and deploy tools do); saving a broken one is refused
// and the good one keeps serving.
func TestWatchSwapsOnSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ver.wasm")
	v1, v2 := versionWAT(t, "v1"), versionWAT(t, "v2")
	os.WriteFile(path, v1, 0o644)
	h := watchedHost(t, dir, fmt.Sprintf("[host]\ndata_dir = \"data\"\n[plugins.ver]\npath = %q\nevents = [\"work\"]\n", path))
	tmp := path + ".tmp"
	os.WriteFile(tmp, v2, 0o644)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, h, "ver", wasm.Hash(v2))
	os.WriteFile(path, []byte("\x00asm garbage"), 0o644)
	deadline := time.Now().Add(waitLimit)
	for h.Plugins()[0].LastRefusal == nil {
		if time.Now().After(deadline) {
			t.Fatal("the broken module was never refused")
		}
		time.Sleep(time.Millisecond)
	}
	if got := h.Plugin("ver").Hash(); got != wasm.Hash(v2) {
		t.Fatalf("serving %s after a broken save", got[:12])
	}
}

// The dev loop: editing a Go handler's source rebuilds and swaps it.
func TestWatchRebuildsGoSource(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go plugins")
	}
	pdk, err := filepath.Abs("../plugins")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "greeter")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module greeter\n\ngo 1.24\n\nrequire github.com/evhost/evhost/plugins v0.0.0\n\nreplace github.com/evhost/evhost/plugins => "+pdk+"\n"), 0o644)
	writeMain := func(greeting string) {
		os.WriteFile(filepath.Join(src, "main.go"), []byte(`package main

import "github.com/evhost/evhost/plugins/pdk"

func init() { pdk.Handle(func(e *pdk.Event) error { return pdk.Emit("greeting", []byte(`+strconv.Quote(greeting)+`)) }) }

func main() {}
`), 0o644)
	}
	writeMain("hello")
	h := watchedHost(t, dir, fmt.Sprintf("[host]\ndata_dir = \"data\"\n[plugins.greeter]\npath = %q\nevents = [\"greet\"]\n", src))
	call := func() string {
		res := h.Plugin("greeter").Call(context.Background(), &event.Event{ID: "1", Source: "/t", Type: "greet", SpecVersion: "1.0"})
		if res.Status != wasm.Done || len(res.Emits) != 1 {
			t.Fatalf("%+v", res)
		}
		return string(res.Emits[0].Data)
	}
	if got := call(); got != "hello" {
		t.Fatalf("before the edit: %q", got)
	}
	before := h.Plugin("greeter").Hash()
	writeMain("bonjour")
	deadline := time.Now().Add(waitLimit)
	for h.Plugin("greeter").Hash() == before {
		if time.Now().After(deadline) {
			t.Fatal("the edited source was never rebuilt")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := call(); got != "bonjour" {
		t.Fatalf("after the edit: %q", got)
	}
	// A build error is refused; the last good build keeps serving.
	os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nfunc main() { syntax error }\n"), 0o644)
	for h.Plugins()[0].LastRefusal == nil {
		if time.Now().After(deadline) {
			t.Fatal("the broken source was never refused")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r := h.Plugins()[0].LastRefusal; !strings.Contains(r.Error, "gobuild") {
		t.Fatalf("refusal %+v", r)
	}
	if got := call(); got != "bonjour" {
		t.Fatalf("after a broken edit: %q", got)
	}
}

// A config reload under load adds a subscription (it gets the events
// published after it) and removes one (its deliveries stop cleanly); an
// invalid config is refused with its position and changes nothing.
func TestConfigReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.wasm"), filepath.Join(dir, "b.wasm")
	os.WriteFile(a, versionWAT(t, "a"), 0o644)
	os.WriteFile(b, versionWAT(t, "b"), 0o644)
	base := "[host]\ndata_dir = \"data\"\n[defaults]\nqueue = 100000\n"
	plugin := func(name, path string) string {
		return fmt.Sprintf("[plugins.%s]\npath = %q\nevents = [\"work\"]\n", name, path)
	}
	h := watchedHost(t, dir, base+plugin("a", a))
	// Each handled event names its version ("a" or "b") in its data and
	// the event it answers in its causationid; a phase counts the answers
	// to its own events only, so stragglers of an earlier phase (an event
	// published while b's subscription was being created, then handled by
	// both) do not blur the count.
	type answer struct{ version, cause string }
	seen := make(chan answer, 100000)
	h.Handle("observer", []string{"handled"}, func(_ context.Context, ev *event.Event, _ func(*event.Event)) error {
		cause, _ := ev.Ext(event.ExtCausationID)
		seen <- answer{string(ev.Data), cause}
		return nil
	})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var phase string
	n := 0
	publishN := func(k int) {
		for i := 0; i < k; i++ {
			n++
			if _, err := h.Publish(context.Background(), &event.Event{Type: "work", ID: fmt.Sprintf("%s-%d", phase, n)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// expect waits until the answers of the current phase are exactly
	// want[v] from each version v; an unwanted answer makes it fail.
	expect := func(want map[string]int) {
		t.Helper()
		counts := map[string]int{}
		timeout := time.After(waitLimit)
		for !maps.Equal(counts, want) {
			select {
			case a := <-seen:
				if strings.HasPrefix(a.cause, phase+"-") {
					counts[a.version]++
					if counts[a.version] > want[a.version] {
						t.Fatalf("phase %s: answers %v, want %v", phase, counts, want)
					}
				}
			case <-timeout:
				t.Fatalf("phase %s: answers %v, want %v", phase, counts, want)
			}
		}
	}
	cfgPath := filepath.Join(dir, "config.toml")
	phase = "before"
	publishN(100)
	expect(map[string]int{"a": 100})
	// Add b: the file changes, the watcher reloads the config.
	os.WriteFile(cfgPath, []byte(base+plugin("a", a)+plugin("b", b)), 0o644)
	deadline := time.Now().Add(waitLimit)
	for h.Plugin("b") == nil {
		if time.Now().After(deadline) {
			t.Fatal("plugin b never added")
		}
		time.Sleep(time.Millisecond)
	}
	phase = "added"
	publishN(200)
	expect(map[string]int{"a": 200, "b": 200})
	// An invalid config is refused; a and b keep running.
	os.WriteFile(cfgPath, []byte(base+plugin("a", a)+plugin("b", b)+"[plugins.c]\npath = 3\n"), 0o644)
	err := h.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "config.toml:") {
		t.Fatalf("invalid config: %v", err)
	}
	// Remove a: its deliveries stop, b's go on.
	os.WriteFile(cfgPath, []byte(base+plugin("b", b)), 0o644)
	for h.Plugin("a") != nil {
		if time.Now().After(deadline) {
			t.Fatal("plugin a never removed")
		}
		time.Sleep(time.Millisecond)
	}
	phase = "removed"
	publishN(200)
	expect(map[string]int{"b": 200})
	// Handled and settled by now: nothing from a may follow.
	publishN(1)
	expect(map[string]int{"b": 1})
}

// rss returns the process's resident memory in bytes.
func rss(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// Hundreds of swaps of a 1.9 MB Go plugin do not grow the process: the
// old versions (compiled code and instances) are really closed.
func TestRepeatedSwapsDoNotGrowMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("swaps Go plugins hundreds of times")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "p.wasm")
	v := [][]byte{wasmbuild.Go(t, "wasm/testdata/goplugins/bytecount"), wasmbuild.Go(t, "wasm/testdata/goplugins/hostile")}
	os.WriteFile(path, v[0], 0o644)
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf("[host]\ndata_dir = \"data\"\n[plugins.p]\npath = %q\nevents = [\"x\"]\n", path)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	swap := func(i int) {
		os.WriteFile(path, v[i%2], 0o644)
		old := h.Plugin("p")
		if err := h.ReloadPlugin(context.Background(), "p"); err != nil {
			t.Fatal(err)
		}
		<-old.Done()
	}
	for i := 1; i <= 20; i++ { // warm: caches, allocator, GC pacing
		swap(i)
	}
	runtime.GC()
	before := rss(t)
	const swaps = 200
	for i := 21; i <= 20+swaps; i++ {
		swap(i)
	}
	runtime.GC()
	after := rss(t)
	grew := after - before
	t.Logf("RSS %d MiB after warm-up, %d MiB after %d more swaps", before>>20, after>>20, swaps)
	// A leaked version holds at least its instance's 3 MiB of memory.
	if grew > 64<<20 {
		t.Fatalf("RSS grew by %d MiB over %d swaps: old versions are not freed", grew>>20, swaps)
	}
}

// withCustomSection returns bin with a custom section appended: a module
// that behaves the same but has new bytes, so nothing is cached for it.
func withCustomSection(bin []byte, n uint64) []byte {
	name := "evhost-bench"
	payload := []byte(strconv.FormatUint(n, 10))
	body := append([]byte{byte(len(name))}, name...)
	body = append(body, payload...)
	out := append(append([]byte(nil), bin...), 0, byte(len(body)))
	return append(out, body...)
}

// BenchmarkWriteToServing measures hot reload of the 1.9 MB Go plugin from
// the moment its file is written to the moment the new version serves:
// debounce, read, compile (cold: a module never seen; cached: one of two
// versions alternating, from the compilation cache), checks, pre-warmed
// instance, swap.
func BenchmarkWriteToServing(b *testing.B) {
	base := wasmbuild.Go(b, "wasm/testdata/goplugins/bytecount")
	b.Logf("module: %.1f MiB", float64(len(base))/(1<<20))
	for _, mode := range []string{"cold", "cached"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			path := filepath.Join(dir, "p.wasm")
			versions := [][]byte{withCustomSection(base, 1), withCustomSection(base, 2)}
			os.WriteFile(path, versions[0], 0o644)
			h := watchedHost(b, dir, fmt.Sprintf("[host]\ndata_dir = \"data\"\n[plugins.p]\npath = %q\nevents = [\"x\"]\n", path))
			if mode == "cached" { // both versions compiled once already
				os.WriteFile(path, versions[1], 0o644)
				waitVersion(b, h, "p", wasm.Hash(versions[1]))
				os.WriteFile(path, versions[0], 0o644)
				waitVersion(b, h, "p", wasm.Hash(versions[0]))
			}
			var total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				next := versions[(i+1)%2]
				if mode == "cold" {
					next = withCustomSection(base, uint64(1000+i))
				}
				tmp := path + ".tmp"
				os.WriteFile(tmp, next, 0o644)
				start := time.Now()
				os.Rename(tmp, path)
				waitVersion(b, h, "p", wasm.Hash(next))
				total += time.Since(start)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-serving")
		})
	}
}

// GET /v1/plugins shows each plugin's version, load time and last refused
// reload; POST /v1/admin/reload reloads as SIGHUP does and reports a
// refusal.
func TestAdminPluginsAndReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ver.wasm")
	v1 := versionWAT(t, "v1")
	os.WriteFile(path, v1, 0o644)
	_, base := start(t, dir, fmt.Sprintf("[plugins.ver]\npath = %q\nevents = [\"work\"]\n", path))
	get := func() []api.PluginInfo {
		resp, err := http.Get(base + "/v1/plugins")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Plugins []api.PluginInfo }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v", resp.Status, err)
		}
		return body.Plugins
	}
	ps := get()
	if len(ps) != 1 || ps[0].Version != wasm.Hash(v1) || ps[0].LoadedAt.IsZero() || ps[0].LastRefusal != nil {
		t.Fatalf("%+v", ps)
	}
	os.WriteFile(path, []byte("not wasm"), 0o644)
	resp := post(t, base+"/v1/admin/reload", "application/json", "")
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("reload of a broken module: %s", resp.Status)
	}
	ps = get()
	if ps[0].Version != wasm.Hash(v1) || ps[0].LastRefusal == nil || ps[0].LastRefusal.Version != wasm.Hash([]byte("not wasm")) {
		t.Fatalf("%+v", ps[0])
	}
	v2 := versionWAT(t, "v2")
	os.WriteFile(path, v2, 0o644)
	if resp := post(t, base+"/v1/admin/reload", "application/json", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %s", resp.Status)
	}
	if ps = get(); ps[0].Version != wasm.Hash(v2) || ps[0].LastRefusal != nil {
		t.Fatalf("%+v", ps[0])
	}
}
