package conformance_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/httpcap"
	"github.com/evhost/evhost/host/jsengine"
	"github.com/evhost/evhost/host/kv"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// A kit is one language's conformance handler and how to build it.
type kit struct {
	name  string
	build func(t testing.TB) []byte
	// traps says whether "trap" is a WebAssembly trap, after which the
	// host discards the instance. The Go PDK recovers a panic instead and
	// fails the call with status 1: the instance stays.
	traps bool
	// trapLogged says whether the kit logs the panic's message at error
	// before the trap.
	trapLogged bool
	// config, when set, adds config values to the plugin's (the JavaScript
	// kit's handler source).
	config func(t testing.TB) map[string]string
}

var root = filepath.Join("..", "..")

var kits = []kit{
	{"go", func(t testing.TB) []byte {
		return wasmbuild.Go(t, filepath.Join(root, "plugins", "conformance", "go"))
	}, false, true, nil},
	{"c", func(t testing.TB) []byte {
		return wasmbuild.C(t, filepath.Join(root, "plugins", "c", "conformance"))
	}, true, false, nil},
	{"rust", func(t testing.TB) []byte {
		return wasmbuild.Rust(t, filepath.Join(root, "plugins", "rust", "conformance"))
	}, true, true, nil},
	{"assemblyscript", func(t testing.TB) []byte {
		return wasmbuild.AssemblyScript(t, filepath.Join(root, "plugins", "assemblyscript"), "conformance/handler.ts")
	}, true, true, nil},
	// JavaScript: the engine (QuickJS in a C wasm plugin) with every
	// grant and the handler's source as its config value "source". A
	// thrown Error is caught by the engine: retry, the message logged, the
	// instance stays.
	{"javascript", func(t testing.TB) []byte {
		return wasmbuild.JSEngine(t, root, jsengine.Variant{KV: true, HTTP: true})
	}, false, true, func(t testing.TB) map[string]string {
		return map[string]string{"source": readFile(t, filepath.Join(root, "plugins", "js", "conformance", "handler.js"))}
	}},
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConformance builds each kit's conformance handler from source with
// its real toolchain, loads it into evhost's runtime with every grant
// (config, KV, HTTP through an allow-list) and an emit cap of 3, and runs
// the scenarios of plugins/conformance/SPEC.md, asserting the same results
// for every language.
func TestConformance(t *testing.T) {
	for _, k := range kits {
		t.Run(k.name, func(t *testing.T) {
			bin := k.build(t)
			var config map[string]string
			if k.config != nil {
				config = k.config(t)
			}
			s := newSuite(t, bin, config)
			s.run(t, k)
		})
	}
}

type suite struct {
	p      *wasm.Plugin
	logs   *logCapture
	store  kv.Store
	server *httptest.Server
	seen   atomic.Value // string: what the HTTP server saw, "METHOD header body"
}

func newSuite(t *testing.T, bin []byte, extraConfig map[string]string) *suite {
	s := &suite{store: kv.NewMemory(1 << 20)}
	s.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.seen.Store(r.Method + " " + r.Header.Get("X-Conformance") + " " + string(body))
		w.Header().Set("X-Echo", "pong-header")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte("pong"))
	}))
	t.Cleanup(s.server.Close)
	u, err := url.Parse(s.server.URL)
	if err != nil {
		t.Fatal(err)
	}

	r, err := wasm.NewRuntime(context.Background(), wasm.RuntimeOptions{
		CacheDir: filepath.Join(wasmbuild.CacheDir(), "wazero"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	var logger *slog.Logger
	s.logs, logger = newLogCapture()
	// evhost's own http_request capability: the plugin's allowed_hosts,
	// then the SSRF guard, which lets the loopback test server through.
	hc, err := httpcap.New("conformance", []string{u.Host}, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	config := map[string]string{"greeting": "hello from config"}
	for k, v := range extraConfig {
		config[k] = v
	}
	s.p, err = r.Load(context.Background(), bin, wasm.PluginOptions{
		Name:         "conformance",
		Config:       config,
		KV:           s.store,
		HTTP:         hc,
		Logger:       logger,
		MaxEmits:     3,
		MaxInstances: 1,
		Timeout:      10 * time.Second,
	})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(s.p.Close)
	return s
}

var seq atomic.Int64

func testEvent(typ, data string) *event.Event {
	e := &event.Event{
		ID: fmt.Sprintf("ev-%d-%s", seq.Add(1), typ), Source: "/conformance",
		Type: typ, SpecVersion: "1.0", Time: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC),
	}
	if data != "" {
		e.Data = []byte(data)
	}
	return e
}

func (s *suite) call(t *testing.T, e *event.Event) wasm.Result {
	t.Helper()
	return s.p.Call(context.Background(), e)
}

// one returns the single emit of a done call.
func one(t *testing.T, res wasm.Result, typ string) *event.Event {
	t.Helper()
	if res.Status != wasm.Done || len(res.Emits) != 1 {
		t.Fatalf("status %v reason %q err %v, %d emits; want done with one emit", res.Status, res.Reason, res.Err, len(res.Emits))
	}
	e := res.Emits[0]
	if e.Type != typ {
		t.Fatalf("emitted type %q, want %q", e.Type, typ)
	}
	return e
}

func ext(t *testing.T, e *event.Event, name, want string) {
	t.Helper()
	if got, _ := e.Ext(name); got != want {
		t.Errorf("extension %s = %q, want %q", name, got, want)
	}
}

func (s *suite) run(t *testing.T, k kit) {
	t.Run("echo", func(t *testing.T) {
		ev := testEvent("echo", `{"hello":"world"}`)
		ev.Subject = "s/1"
		ev.DataContentType = "application/json"
		ev.SetExt("tenant", "acme")
		e := one(t, s.call(t, ev), "echo.reply")
		if string(e.Data) != `{"hello":"world"}` || e.DataContentType != "application/json" {
			t.Errorf("data %q content type %q", e.Data, e.DataContentType)
		}
		ext(t, e, "origid", ev.ID)
		ext(t, e, "origsource", "/conformance")
		ext(t, e, "origtype", "echo")
		ext(t, e, "origspec", "1.0")
		ext(t, e, "origtime", "2026-12-06T10:00:00Z")
		ext(t, e, "origsubject", "s/1")
		ext(t, e, "origtenant", "acme")
		ext(t, e, "causationid", ev.ID)
		if e.Source != "evhost://plugins/conformance" {
			t.Errorf("source %q", e.Source)
		}

		// No subject, content type, tenant or data: none is made up.
		ev = testEvent("echo", "")
		e = one(t, s.call(t, ev), "echo.reply")
		if len(e.Data) != 0 || e.DataContentType != "" {
			t.Errorf("data %q content type %q", e.Data, e.DataContentType)
		}
		for _, name := range []string{"origsubject", "origtenant"} {
			if v, ok := e.Ext(name); ok {
				t.Errorf("extension %s = %q, want none", name, v)
			}
		}
	})

	t.Run("emit options", func(t *testing.T) {
		ev := testEvent("emit.options", "")
		e := one(t, s.call(t, ev), "options.out")
		if e.ID != "fixed-id-1" || e.Subject != "sub/1" || e.DataContentType != "application/json" ||
			e.DataSchema != "https://example.com/schema.json" || string(e.Data) != `{"ok":true}` {
			t.Errorf("emitted %+v data %q", e, e.Data)
		}
		ext(t, e, "color", "blue")
		ext(t, e, "causationid", ev.ID)
		ext(t, e, "depth", "1")
	})

	t.Run("reject", func(t *testing.T) {
		res := s.call(t, testEvent("reject", ""))
		if res.Status != wasm.Reject || !strings.Contains(res.Reason, "bad input") || res.Emits != nil {
			t.Fatalf("%+v", res)
		}
	})

	t.Run("retry", func(t *testing.T) {
		res := s.call(t, testEvent("retry", ""))
		if res.Status != wasm.Retry || !strings.Contains(res.Reason, "try later") || res.Emits != nil {
			t.Fatalf("%+v", res)
		}
	})

	t.Run("config", func(t *testing.T) {
		e := one(t, s.call(t, testEvent("config", "")), "config.value")
		if string(e.Data) != "hello from config" {
			t.Errorf("data %q", e.Data)
		}
		ext(t, e, "absent", "notfound")
	})

	t.Run("kv", func(t *testing.T) {
		for _, want := range []string{"1", "2"} {
			e := one(t, s.call(t, testEvent("kv", "")), "kv.count")
			if string(e.Data) != want {
				t.Errorf("count %q, want %q", e.Data, want)
			}
			ext(t, e, "badkey", "-2")
		}
		if v, err := s.store.Get(context.Background(), "counter"); err != nil || string(v) != "2" {
			t.Errorf("store holds %q, %v", v, err)
		}
		e := one(t, s.call(t, testEvent("kv.delete", "")), "kv.deleted")
		if string(e.Data) != "notfound" {
			t.Errorf("after delete: %q", e.Data)
		}
		if _, err := s.store.Get(context.Background(), "counter"); err == nil {
			t.Errorf("the key is still in the store")
		}
	})

	t.Run("http", func(t *testing.T) {
		s.seen.Store("")
		e := one(t, s.call(t, testEvent("http", s.server.URL+"/hook")), "http.done")
		if string(e.Data) != "pong" {
			t.Errorf("body %q", e.Data)
		}
		ext(t, e, "status", "201")
		ext(t, e, "echoheader", "pong-header")
		if got := s.seen.Load(); got != "POST yes ping" {
			t.Errorf("the server saw %q, want %q", got, "POST yes ping")
		}
		// Outside the allow-list: -3, and no request is made.
		s.seen.Store("")
		e = one(t, s.call(t, testEvent("http", "http://denied.example.com/")), "http.error")
		ext(t, e, "code", "-3")
		if got := s.seen.Load(); got != "" {
			t.Errorf("the server saw %q", got)
		}
	})

	t.Run("log levels", func(t *testing.T) {
		ev := testEvent("log", "")
		if res := s.call(t, ev); res.Status != wasm.Done {
			t.Fatalf("%+v", res)
		}
		want := map[string]slog.Level{"debug line": slog.LevelDebug, "info line": slog.LevelInfo,
			"warn line": slog.LevelWarn, "error line": slog.LevelError}
		for _, l := range s.logs.forEvent(ev.ID) {
			if lvl, ok := want[l.Msg]; ok && lvl == l.Level {
				delete(want, l.Msg)
			}
		}
		if len(want) != 0 {
			t.Errorf("missing log lines %v; got %+v", want, s.logs.forEvent(ev.ID))
		}
	})

	t.Run("trap", func(t *testing.T) {
		before := s.p.Stats().Discards
		ev := testEvent("trap", "")
		res := s.call(t, ev)
		if res.Status != wasm.Retry {
			t.Fatalf("%+v", res)
		}
		discarded := s.p.Stats().Discards - before
		if k.traps && discarded != 1 {
			t.Errorf("%d instances discarded, want 1", discarded)
		}
		if !k.traps && (discarded != 0 || !strings.Contains(res.Reason, "conformance trap")) {
			t.Errorf("a recovered panic: %d discarded, reason %q", discarded, res.Reason)
		}
		if k.trapLogged {
			found := false
			for _, l := range s.logs.forEvent(ev.ID) {
				found = found || l.Level == slog.LevelError && strings.Contains(l.Msg, "conformance trap")
			}
			if !found {
				t.Errorf("the panic's message was not logged at error: %+v", s.logs.forEvent(ev.ID))
			}
		}
		// The plugin keeps serving.
		one(t, s.call(t, testEvent("emit.options", "")), "options.out")
	})

	t.Run("emit limit", func(t *testing.T) {
		ev := testEvent("emit.many", "")
		res := s.call(t, ev)
		if res.Status != wasm.Reject || !strings.Contains(res.Reason, "emit limit") || res.Emits != nil {
			t.Fatalf("%+v", res)
		}
		found := false
		for _, l := range s.logs.forEvent(ev.ID) {
			found = found || l.Msg == "emit refused: -4" && l.Level == slog.LevelWarn
		}
		if !found {
			t.Errorf("no warn line %q: %+v", "emit refused: -4", s.logs.forEvent(ev.ID))
		}
	})

	t.Run("large emit", func(t *testing.T) {
		const n = 1 << 20
		e := one(t, s.call(t, testEvent("emit.large", "1048576")), "large.out")
		if len(e.Data) != n || !bytes.Equal(e.Data, bytes.Repeat([]byte("x"), n)) {
			t.Errorf("%d bytes emitted, want %d bytes x", len(e.Data), n)
		}
	})
}

// logCapture is a slog.Handler that keeps every record with its attributes.
type logCapture struct {
	mu    *sync.Mutex
	lines *[]logLine
	attrs []slog.Attr
}

type logLine struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

func newLogCapture() (*logCapture, *slog.Logger) {
	c := &logCapture{mu: &sync.Mutex{}, lines: &[]logLine{}}
	return c, slog.New(c)
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }

func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	l := logLine{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range c.attrs {
		l.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { l.Attrs[a.Key] = a.Value.String(); return true })
	c.mu.Lock()
	*c.lines = append(*c.lines, l)
	c.mu.Unlock()
	return nil
}

func (c *logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	return &logCapture{mu: c.mu, lines: c.lines, attrs: append(append([]slog.Attr(nil), c.attrs...), as...)}
}

func (c *logCapture) WithGroup(string) slog.Handler { return c }

// forEvent returns the lines logged while handling the event with id.
func (c *logCapture) forEvent(id string) []logLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []logLine
	for _, l := range *c.lines {
		if l.Attrs["event_id"] == id {
			out = append(out, l)
		}
	}
	return out
}
