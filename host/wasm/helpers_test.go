package wasm_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// cacheDir is the compilation cache shared by every test of a run (and
// across runs, like a daemon's restart).
func cacheDir() string { return filepath.Join(wasmbuild.CacheDir(), "wazero") }

func newRuntime(t testing.TB) *wasm.Runtime {
	t.Helper()
	r, err := wasm.NewRuntime(context.Background(), wasm.RuntimeOptions{CacheDir: cacheDir(), Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

var discard = slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelError + 100}))

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	if strings.HasSuffix(name, ".wat") {
		return wasmbuild.WATFile(t, filepath.Join("testdata", name))
	}
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func load(t testing.TB, r *wasm.Runtime, b []byte, opts wasm.PluginOptions) *wasm.Plugin {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "test"
	}
	p, err := r.Load(context.Background(), b, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

var evSeq atomic.Int64

func testEvent(typ string, data string) *event.Event {
	e := &event.Event{
		ID: fmt.Sprintf("ev-%d", evSeq.Add(1)), Source: "/test", Type: typ, SpecVersion: "1.0",
		Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
	}
	if data != "" {
		e.Data = []byte(data)
	}
	return e
}

// logCapture is a slog.Handler that keeps every record, for tests that
// assert on plugin log lines.
type logCapture struct {
	mu    sync.Mutex
	lines []logLine
	attrs []slog.Attr
	root  *logCapture
}

type logLine struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

func newLogCapture() (*logCapture, *slog.Logger) {
	c := &logCapture{}
	c.root = c
	return c, slog.New(c)
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }

func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	l := logLine{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range c.attrs {
		l.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { l.Attrs[a.Key] = a.Value.String(); return true })
	c.root.mu.Lock()
	c.root.lines = append(c.root.lines, l)
	c.root.mu.Unlock()
	return nil
}

func (c *logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	return &logCapture{attrs: append(append([]slog.Attr(nil), c.attrs...), as...), root: c.root}
}

func (c *logCapture) WithGroup(string) slog.Handler { return c }

func (c *logCapture) all() []logLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]logLine(nil), c.lines...)
}

func (c *logCapture) find(msg string) (logLine, bool) {
	for _, l := range c.all() {
		if l.Msg == msg {
			return l, true
		}
	}
	return logLine{}, false
}
