package wasm_test

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// echoPlugin loads testdata/echo.wat, a module that runs the command
// letter in the event's data (see its header).
func echoPlugin(t *testing.T, opts wasm.PluginOptions) (*wasm.Plugin, *logCapture) {
	t.Helper()
	logs, logger := newLogCapture()
	opts.Logger = logger
	if opts.Config == nil {
		opts.Config = map[string]string{"greeting": "hello", "empty": ""}
	}
	return load(t, newRuntime(t), fixture(t, "echo.wat"), opts), logs
}

func TestABIStatuses(t *testing.T) {
	p, _ := echoPlugin(t, wasm.PluginOptions{})
	for _, tc := range []struct {
		data    string
		status  wasm.Status
		reason  string
		discard bool
	}{
		{"", wasm.Done, "", false},
		{"s0", wasm.Done, "", false},
		{"s1", wasm.Retry, "handler returned status 1", false},
		{"s2", wasm.Reject, "handler returned status 2", false},
		{"s7", wasm.Retry, "unknown status 7", true},
		{"s-1", wasm.Retry, "unknown status -1", true},
		{"fbad input", wasm.Reject, "bad input", false},
		{"rtry later", wasm.Retry, "try later", false},
		{"oignored", wasm.Done, "", false},
		{"wsecond", wasm.Reject, "second", false},
		{"T", wasm.Retry, "unreachable", true},
		{"B", wasm.Reject, "handler returned status 2", false},
	} {
		t.Run(tc.data, func(t *testing.T) {
			before := p.Stats().Discards
			res := p.Call(context.Background(), testEvent("test", tc.data))
			if res.Status != tc.status || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("status %v reason %q, want %v containing %q", res.Status, res.Reason, tc.status, tc.reason)
			}
			if tc.reason == "" && res.Reason != "" {
				t.Fatalf("unexpected reason %q", res.Reason)
			}
			if got := p.Stats().Discards - before; (got == 1) != tc.discard {
				t.Fatalf("discards +%d, want discard=%v", got, tc.discard)
			}
			if res.Status != wasm.Done && res.Emits != nil {
				t.Fatalf("a failed call returned emits")
			}
		})
	}
}

func TestABIEmitStampsHostAttributes(t *testing.T) {
	p, _ := echoPlugin(t, wasm.PluginOptions{Name: "echo"})
	parent := testEvent("order.placed", "ehello")
	res := p.Call(context.Background(), parent)
	if res.Status != wasm.Done || len(res.Emits) != 1 {
		t.Fatalf("%+v", res)
	}
	e := res.Emits[0]
	if e.Type != "echo.out" || string(e.Data) != "hello" || e.Source != "evhost://plugins/echo" ||
		e.SpecVersion != "1.0" || e.Time.IsZero() || !uuidRE.MatchString(e.ID) {
		t.Fatalf("emitted %+v", e)
	}
	for name, want := range map[string]string{"causationid": parent.ID, "correlationid": parent.ID, "depth": "1"} {
		if got, _ := e.Ext(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if _, ok := e.Ext("traceparent"); ok {
		t.Error("traceparent invented")
	}
	// A redelivery emits the same ids (the bus deduplicates them).
	again := p.Call(context.Background(), parent)
	if again.Emits[0].ID != e.ID {
		t.Fatalf("emit id not deterministic: %s then %s", e.ID, again.Emits[0].ID)
	}

	// Inherited correlation, depth and trace context.
	child := testEvent("payment.charged", "e")
	child.SetExt("correlationid", "root-1")
	child.SetExt("depth", "3")
	child.SetExt("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	e = p.Call(context.Background(), child).Emits[0]
	for name, want := range map[string]string{"causationid": child.ID, "correlationid": "root-1", "depth": "4",
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
		if got, _ := e.Ext(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if e.Data != nil {
		t.Errorf("no bytes after the terminator must mean no data, got %q", e.Data)
	}
}

func TestABIEmitPluginAttributes(t *testing.T) {
	p, _ := echoPlugin(t, wasm.PluginOptions{})
	e := p.Call(context.Background(), testEvent("t", "apayload")).Emits[0]
	if e.ID != "fixed-id-1" || e.Subject != "sub-1" || e.DataContentType != "text/plain" ||
		e.DataSchema != "urn:x-echo:schema" || string(e.Data) != "payload" {
		t.Fatalf("plugin-given attributes lost: %+v", e)
	}
	if v, _ := e.Ext("myext"); v != "ext-value" {
		t.Fatalf("myext = %q", v)
	}
	parent := testEvent("t", "h")
	res := p.Call(context.Background(), parent)
	if res.Status != wasm.Done {
		t.Fatalf("%+v", res)
	}
	e = res.Emits[0]
	if e.Source != "evhost://plugins/test" || e.SpecVersion != "1.0" || e.Time.Year() < 2026 {
		t.Fatalf("host-owned attributes not replaced: %+v", e)
	}
	for name, want := range map[string]string{"causationid": parent.ID, "correlationid": parent.ID, "depth": "1"} {
		if got, _ := e.Ext(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if _, ok := e.Ext("traceparent"); ok {
		t.Error("plugin-given traceparent kept")
	}
}

func TestABIEmitErrors(t *testing.T) {
	p, _ := echoPlugin(t, wasm.PluginOptions{
		MaxEmits:  3,
		MaxDepth:  5,
		AllowEmit: func(typ string) bool { return typ != "forbidden" },
	})
	for _, tc := range []struct {
		name, data string
		status     wasm.Status
		reason     string
	}{
		{"length past data", "x", wasm.Reject, "-2"},
		{"no terminator", "X", wasm.Reject, "-2"},
		{"huge length", "i", wasm.Reject, "-2"},
		{"duplicate name", "d", wasm.Reject, "-2"},
		{"no type", "t", wasm.Reject, "-2"},
		{"not utf-8", "u", wasm.Reject, "-2"},
		{"bad extension name", "v", wasm.Reject, "-2"},
		{"type not allowed", "yforbidden", wasm.Reject, "-3"},
		{"type allowed", "yallowed", wasm.Done, ""},
		{"emit cap", "E10", wasm.Reject, "emit limit exceeded"},
		{"under the cap", "E3", wasm.Done, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := p.Call(context.Background(), testEvent("t", tc.data))
			if res.Status != tc.status || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("status %v reason %q, want %v with %q", res.Status, res.Reason, tc.status, tc.reason)
			}
		})
	}
	// The depth guard: the parent is at the limit, so its emit is refused
	// with -4 and the event dead-letters whatever the handler returns.
	deep := testEvent("t", "e")
	deep.SetExt("depth", "5")
	res := p.Call(context.Background(), deep)
	if res.Status != wasm.Reject || !strings.Contains(res.Reason, "depth limit exceeded") || res.Emits != nil {
		t.Fatalf("depth guard: %+v", res)
	}
	// Emits of a call that does not succeed are not published.
	for _, data := range []string{"Rx", "Tx"} {
		if res := p.Call(context.Background(), testEvent("t", data)); res.Status != wasm.Retry || res.Emits != nil {
			t.Fatalf("%s: %+v", data, res)
		}
	}
}

func TestABILog(t *testing.T) {
	p, logs := echoPlugin(t, wasm.PluginOptions{Name: "echo"})
	ev := testEvent("t", "lhello from the guest")
	if res := p.Call(context.Background(), ev); res.Status != wasm.Done {
		t.Fatalf("%+v", res)
	}
	l, ok := logs.find("hello from the guest")
	if !ok || l.Level != slog.LevelInfo || l.Attrs["plugin"] != "echo" || l.Attrs["event_id"] != ev.ID || l.Attrs["event_type"] != "t" {
		t.Fatalf("log line %+v (found %v)", l, ok)
	}
	for d, want := range map[string]slog.Level{"0": slog.LevelDebug, "1": slog.LevelInfo, "2": slog.LevelWarn, "3": slog.LevelError} {
		p.Call(context.Background(), testEvent("t", "L"+d+"level "+d))
		if l, ok := logs.find("level " + d); !ok || l.Level != want {
			t.Errorf("level %s logged as %v (found %v)", d, l.Level, ok)
		}
	}
}

func TestABIConfigGet(t *testing.T) {
	p, _ := echoPlugin(t, wasm.PluginOptions{})
	res := p.Call(context.Background(), testEvent("t", "cgreeting"))
	if res.Status != wasm.Done || len(res.Emits) != 1 || string(res.Emits[0].Data) != "hello" {
		t.Fatalf("%+v", res)
	}
	if v, _ := res.Emits[0].Ext("allocs"); v != "1" {
		t.Fatalf("host made %s evhost_alloc calls for the result, want 1", v)
	}
	res = p.Call(context.Background(), testEvent("t", "cempty"))
	if res.Status != wasm.Done || res.Emits[0].Data != nil {
		t.Fatalf("empty value: %+v", res)
	}
	if v, _ := res.Emits[0].Ext("allocs"); v != "0" {
		t.Fatalf("empty result: %s evhost_alloc calls, want 0", v)
	}
	if res := p.Call(context.Background(), testEvent("t", "cmissing")); res.Status != wasm.Reject || res.Reason != "-1" {
		t.Fatalf("missing key: %+v", res)
	}
}

func TestABIOutOfBoundsRanges(t *testing.T) {
	p, logs := echoPlugin(t, wasm.PluginOptions{})
	res := p.Call(context.Background(), testEvent("t", "b"))
	if res.Status != wasm.Done || res.Emits != nil {
		t.Fatalf("out-of-bounds ranges: %+v", res)
	}
	if n := len(logs.all()); n != 0 {
		t.Fatalf("%d log lines from out-of-bounds ranges", n)
	}
	if res := p.Call(context.Background(), testEvent("t", "")); res.Status != wasm.Done {
		t.Fatalf("instance not serving after out-of-bounds ranges: %+v", res)
	}
}

func TestABIInitialize(t *testing.T) {
	p, _ := echoPlugin(t, wasm.PluginOptions{})
	if res := p.Call(context.Background(), testEvent("t", "I")); res.Status != wasm.Done {
		t.Fatalf("emit during _initialize did not get -3: %+v", res)
	}
}

func TestABIInstanceReuse(t *testing.T) {
	p, _ := echoPlugin(t, wasm.PluginOptions{MaxInstances: 1, MaxCalls: 3})
	var counts []string
	for i := 0; i < 5; i++ {
		res := p.Call(context.Background(), testEvent("t", "N"))
		counts = append(counts, string(res.Emits[0].Data))
	}
	// Three calls on the first instance, then it is recycled.
	if got := strings.Join(counts, ","); got != "1,2,3,1,2" {
		t.Fatalf("instance call counts %s, want 1,2,3,1,2", got)
	}
	if s := p.Stats(); s.Recycles != 1 || s.Discards != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// By default an instance is never recycled, as in the daemon's config
// (max_calls = 0, max_age = "0s"); MaxAge, when set, retires an instance
// whose age is checked every 32 calls.
func TestInstanceRecycling(t *testing.T) {
	ctx, ev := context.Background(), testEvent("t", "s0")
	p, _ := echoPlugin(t, wasm.PluginOptions{MaxInstances: 1})
	for i := 0; i < 100_001; i++ { // past the Go API's old default of 100,000 calls
		p.Call(ctx, ev)
	}
	if s := p.Stats(); s.Recycles != 0 {
		t.Fatalf("with the defaults, %d instances were recycled after %d calls", s.Recycles, s.Calls)
	}
	aged, _ := echoPlugin(t, wasm.PluginOptions{MaxInstances: 1, MaxAge: time.Nanosecond})
	for i := 0; i < 64; i++ {
		aged.Call(ctx, ev)
	}
	if s := aged.Stats(); s.Recycles != 2 {
		t.Fatalf("MaxAge 1ns: %d recycles after 64 calls, want 2 (one per 32)", s.Recycles)
	}
}

// The guest's view of an event is the envelope the host encoded: every
// attribute and the data arrive intact.
func TestABIEventEnvelope(t *testing.T) {
	p, _ := echoPlugin(t, wasm.PluginOptions{})
	ev := testEvent("t", "e"+strings.Repeat("x", 100_000))
	ev.Subject = "s"
	ev.SetExt("myext", "v")
	res := p.Call(context.Background(), ev)
	if res.Status != wasm.Done || len(res.Emits[0].Data) != 100_000 {
		t.Fatalf("large event: %v %q", res.Status, res.Reason)
	}
	_ = event.SpecVersion
}
