package wasm_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host/kv"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// goPlugin builds a Go plugin of testdata/goplugins (a reactor, with the
// Go PDK) once per change.
func goPlugin(t testing.TB, name string) []byte {
	t.Helper()
	return wasmbuild.Go(t, filepath.Join("testdata", "goplugins", name))
}

func TestGoPluginHostile(t *testing.T) {
	r := newRuntime(t)
	logs, logger := newLogCapture()
	p := load(t, r, goPlugin(t, "hostile"), wasm.PluginOptions{
		Name: "hostile", Timeout: 200 * time.Millisecond, MemoryLimit: 64 << 20, MaxInstances: 2,
		Env: map[string]string{"GREETING": "hi"}, Logger: logger,
	})
	for _, tc := range []struct {
		typ    string
		status wasm.Status
		reason string
		err    error
	}{
		{"spin", wasm.Retry, "timeout", wasm.ErrTimeout},
		{"recurse", wasm.Retry, "timeout", wasm.ErrTimeout},
		{"sleep", wasm.Retry, "timeout", wasm.ErrTimeout},
		{"panic", wasm.Retry, "boom", nil},
		{"membomb", wasm.Retry, "", nil},
		{"emit", wasm.Done, "", nil},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			res := p.Call(context.Background(), testEvent(tc.typ, ""))
			if res.Status != tc.status || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("status %v reason %q err %v", res.Status, res.Reason, res.Err)
			}
			if tc.err != nil && !errors.Is(res.Err, tc.err) {
				t.Fatalf("err = %v, want %v", res.Err, tc.err)
			}
			// The plugin keeps serving.
			if res := p.Call(context.Background(), testEvent("emit", "")); res.Status != wasm.Done || len(res.Emits) != 1 {
				t.Fatalf("after %s: %+v", tc.typ, res)
			}
		})
	}
	found := false
	for _, l := range logs.all() {
		found = found || strings.Contains(l.Msg, "boom") && l.Attrs["event_type"] == "panic"
	}
	if !found {
		t.Errorf("the guest's panic message was not logged: %v", logs.all())
	}
}

func TestGoPluginWASI(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, goPlugin(t, "hostile"), wasm.PluginOptions{Env: map[string]string{"GREETING": "hi"}})
	if res := p.Call(context.Background(), testEvent("env", "")); string(res.Emits[0].Data) != "hi" {
		t.Fatalf("granted env: %+v", res)
	}
	q := load(t, r, goPlugin(t, "hostile"), wasm.PluginOptions{})
	if res := q.Call(context.Background(), testEvent("env", "")); res.Emits[0].Data != nil {
		t.Fatalf("env visible without a grant: %q", res.Emits[0].Data)
	}
	res := q.Call(context.Background(), testEvent("time", ""))
	got, err := time.Parse(time.RFC3339, string(res.Emits[0].Data))
	if err != nil || time.Since(got) > time.Minute || time.Since(got) < -time.Minute {
		t.Fatalf("guest clock reads %q, not the real time", res.Emits[0].Data)
	}
}

func TestGoPluginKV(t *testing.T) {
	r := newRuntime(t)
	store := kv.NewMemory(1 << 10)
	bin := goPlugin(t, "kvcount")
	if _, err := r.Load(context.Background(), bin, wasm.PluginOptions{Name: "kvcount"}); err == nil ||
		!strings.Contains(err.Error(), "kv_get: not granted") {
		t.Fatalf("kv plugin without a grant: %v", err)
	}
	p := load(t, r, bin, wasm.PluginOptions{Name: "kvcount", KV: store, MaxInstances: 1})
	for i := 1; i <= 3; i++ {
		res := p.Call(context.Background(), testEvent("count", ""))
		if res.Status != wasm.Done || string(res.Emits[0].Data) != string(rune('0'+i)) {
			t.Fatalf("call %d: %+v", i, res)
		}
	}
	// A new version of the plugin sees the same space.
	p2 := load(t, r, bin, wasm.PluginOptions{Name: "kvcount", KV: store})
	if res := p2.Call(context.Background(), testEvent("reset", "")); string(res.Emits[0].Data) != "4" {
		t.Fatalf("%+v", res)
	}
	if _, err := store.Get(context.Background(), "count"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("kv_delete: %v", err)
	}
	// Over the quota, kv_set gets -4 and the handler asks for a retry.
	tiny := load(t, r, bin, wasm.PluginOptions{Name: "tiny", KV: kv.NewMemory(3)})
	if res := tiny.Call(context.Background(), testEvent("count", "")); res.Status != wasm.Retry || !strings.Contains(res.Reason, "-4") && !strings.Contains(res.Reason, "limit") {
		t.Fatalf("over quota: %+v", res)
	}
}

func TestCommandModule(t *testing.T) {
	r := newRuntime(t)
	logs, logger := newLogCapture()
	p := load(t, r, wasmbuild.GoCommand(t, filepath.Join("testdata", "goplugins", "command")),
		wasm.PluginOptions{Name: "cmd", Logger: logger, Timeout: 300 * time.Millisecond})
	if p.Kind() != wasm.Command {
		t.Fatalf("kind %v", p.Kind())
	}
	ev := testEvent("cmd.ok", "")
	res := p.Call(context.Background(), ev)
	if res.Status != wasm.Done || len(res.Emits) != 1 || res.Emits[0].Type != "cmd.out" {
		t.Fatalf("%+v", res)
	}
	if got := string(res.Emits[0].Data); got != `{"seen":"`+ev.ID+`"}` {
		t.Fatalf("emit data %s", got)
	}
	if c, _ := res.Emits[0].Ext("causationid"); c != ev.ID {
		t.Fatalf("causationid %q", c)
	}
	for _, msg := range []string{"handling cmd.ok", "last line without newline"} {
		if _, ok := logs.find(msg); !ok {
			t.Errorf("log line %q missing: %v", msg, logs.all())
		}
	}
	for typ, want := range map[string]wasm.Status{"cmd.reject": wasm.Reject, "cmd.retry": wasm.Retry, "cmd.spin": wasm.Retry} {
		if res := p.Call(context.Background(), testEvent(typ, "")); res.Status != want {
			t.Errorf("%s: %+v", typ, res)
		}
	}
	if res := p.Call(context.Background(), testEvent("cmd.retry", "")); !strings.Contains(res.Reason, "cannot do it now") {
		t.Errorf("reason %q does not carry the last stderr line", res.Reason)
	}
}

// Many goroutines hammer one pool; every call completes with the right
// result and the pool never exceeds its size (run with -race).
func TestPoolHammer(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixture(t, "echo.wat"), wasm.PluginOptions{MinInstances: 1, MaxInstances: 3, MaxCalls: 50})
	const goroutines, calls = 16, 200
	var wg sync.WaitGroup
	errs := make(chan string, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				data := "ep" + string(rune('a'+g))
				if i%50 == 7 {
					data = "T" // a trap now and then discards an instance
				}
				res := p.Call(context.Background(), testEvent("t", data))
				switch {
				case data == "T" && res.Status != wasm.Retry:
					errs <- "trap did not fail"
				case data != "T" && (res.Status != wasm.Done || string(res.Emits[0].Data) != data[1:]):
					errs <- "wrong result: " + res.Reason
				}
				if s := p.Stats(); s.Instances > 3 {
					errs <- "pool grew past MaxInstances"
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	s := p.Stats()
	if s.Calls != goroutines*calls || s.Discards != goroutines*4 {
		t.Fatalf("stats %+v", s)
	}
}

// Closing a plugin while calls are in flight lets them finish, refuses new
// ones, and frees everything once the last returns.
func TestCloseWhileBusy(t *testing.T) {
	r := newRuntime(t)
	p, err := r.Load(context.Background(), fixture(t, "sleep.wat"), wasm.PluginOptions{Name: "s", Timeout: 100 * time.Millisecond, MaxInstances: 2})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	done := make(chan wasm.Result)
	go func() {
		close(started)
		done <- p.Call(context.Background(), testEvent("t", ""))
	}()
	<-started
	p.Close()
	if res := p.Call(context.Background(), testEvent("t", "")); !errors.Is(res.Err, wasm.ErrClosed) {
		// The call above may have lost the race with Close: both are fine,
		// but a call after Close must be refused.
		t.Fatalf("call after Close: %+v", res)
	}
	<-done
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("plugin not done after its last call returned")
	}
}

// A caller waiting for a free instance gives up when its context ends.
func TestAcquireHonoursContext(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixture(t, "sleep.wat"), wasm.PluginOptions{Timeout: 300 * time.Millisecond, MaxInstances: 1})
	busy, finished := make(chan struct{}), make(chan struct{})
	go func() { close(busy); p.Call(context.Background(), testEvent("t", "")); close(finished) }()
	defer func() { <-finished }()
	<-busy
	for p.Stats().Idle != 0 {
		time.Sleep(time.Millisecond) // wait until the sleeper holds the instance
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	res := p.Call(ctx, testEvent("t", ""))
	if !errors.Is(res.Err, context.DeadlineExceeded) || res.Status != wasm.Retry {
		t.Fatalf("%+v", res)
	}
}

// A restarted runtime (a new process in production) finds the compiled code
// in the on-disk cache instead of compiling again: the cache gains no entry.
func TestCompilationCacheSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	bin := goPlugin(t, "bytecount")
	entries := func() int {
		n := 0
		filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	firstEntries := 0
	for i := 0; i < 2; i++ {
		r, err := wasm.NewRuntime(context.Background(), wasm.RuntimeOptions{CacheDir: dir, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		p, err := r.Load(context.Background(), bin, wasm.PluginOptions{Name: "cached"})
		if err != nil {
			t.Fatal(err)
		}
		if res := p.Call(context.Background(), testEvent("t", "x")); res.Status != wasm.Done {
			t.Fatal(res.Reason)
		}
		r.Close(context.Background())
		if n := entries(); i == 0 && n == 0 {
			t.Fatal("nothing written to the compilation cache")
		} else if i == 1 && n != firstEntries {
			t.Fatalf("the restarted runtime compiled again: %d cache entries, then %d", firstEntries, n)
		}
		if i == 0 {
			firstEntries = entries()
		}
	}
}
