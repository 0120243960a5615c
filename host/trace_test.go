package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/evhost/evhost/host/admin"
	"github.com/evhost/evhost/host/api"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// orderPipeline registers the native handlers of the order pipeline on h:
// email fails its first attempt on each event (retry), then emits
// email.sent; inventory is done at once and emits nothing. The wasm
// plugin payment (echo.wat, from the config) turns order.placed with data
// "ypayment.charged" into payment.charged.
func orderPipeline(t *testing.T, h *host.Host) {
	t.Helper()
	var mu sync.Mutex
	tries := map[string]int{}
	err := h.Handle("email", []string{"payment.charged"}, func(_ context.Context, ev *event.Event, emit func(*event.Event)) error {
		mu.Lock()
		tries[ev.ID]++
		n := tries[ev.ID]
		mu.Unlock()
		if n == 1 {
			return errors.New("smtp down")
		}
		emit(&event.Event{Type: "email.sent"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Handle("inventory", []string{"payment.charged"}, func(context.Context, *event.Event, func(*event.Event)) error {
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// shape renders a trace tree as one line per event and per run, runs
// sorted by subscription (subscriptions of one event run concurrently).
func shape(n *api.TraceNode, indent string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s", indent, n.Type)
	if n.Truncated {
		b.WriteString(" truncated")
	}
	b.WriteByte('\n')
	runs := slices.Clone(n.Runs)
	slices.SortFunc(runs, func(a, b api.TraceRun) int { return strings.Compare(a.Subscription, b.Subscription) })
	for _, r := range runs {
		fmt.Fprintf(&b, "%s  run %s %s:", indent, r.Subscription, r.Status)
		for _, a := range r.Attempts {
			fmt.Fprintf(&b, " %s#%d=%s", a.Kind, a.Attempt, a.Status)
			if a.Reason != "" {
				fmt.Fprintf(&b, "(%s)", a.Reason)
			}
		}
		b.WriteByte('\n')
	}
	for _, d := range n.DeadLetters {
		fmt.Fprintf(&b, "%s  dead letter %s: %s\n", indent, d.Subscription, d.Reason)
	}
	for _, c := range n.Children {
		b.WriteString(shape(c, indent+"    "))
	}
	return b.String()
}

const wantOrderTree = `order.placed
  run payment done: delivery#1=done
    payment.charged
      run email done: delivery#1=retry(smtp down) delivery#2=done
      run inventory done: delivery#1=done
        email.sent
`

// checkOrderTree checks the trace of the order root and the links between
// its events.
func checkOrderTree(t *testing.T, tree *api.TraceNode, root string) {
	t.Helper()
	if got := shape(tree, ""); got != wantOrderTree {
		t.Fatalf("trace tree:\n%s\nwant:\n%s", got, wantOrderTree)
	}
	if tree.ID != root {
		t.Errorf("root id %q, want %q", tree.ID, root)
	}
	charged := tree.Children[0]
	sent := charged.Children[0]
	if tree.Time == nil || charged.Time == nil || sent.Time == nil || charged.Source == "" {
		t.Errorf("events without time or source: %+v %+v %+v", tree, charged, sent)
	}
	if charged.EmittedBy != "payment" || sent.EmittedBy != "email" || tree.EmittedBy != "" {
		t.Errorf("emitted_by: root %q, payment.charged %q, email.sent %q; want \"\", payment, email", tree.EmittedBy, charged.EmittedBy, sent.EmittedBy)
	}
	if tree.Runs[0].Attempts[0].Plugin != "payment" || tree.Runs[0].Attempts[0].Version == "" {
		t.Errorf("the wasm run names no plugin version: %+v", tree.Runs[0].Attempts[0])
	}
	if want := event.ChildID(&event.Event{ID: root, Source: tree.Source}, "payment", 0); charged.ID != want {
		t.Errorf("payment.charged id %q, want the derived %q", charged.ID, want)
	}
}

// The trace of an order: a wasm plugin and native handlers emit a chain;
// email fails once, then succeeds; the tree shows every run and attempt,
// and it answers again after a restart, from the persistent run records.
func TestTraceOrderPipeline(t *testing.T) {
	dir := t.TempDir()
	echo := writeWasm(t, dir, "payment", wasmbuild.WATFile(t, "wasm/testdata/echo.wat"))
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(`
[host]
data_dir = "data"
[broker]
kind = "embedded"
[plugins.payment]
path = %q
events = ["order.placed"]
`, echo)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	boot := func(obs *handledCounter) *host.Host {
		t.Helper()
		h, err := host.New(ctx, cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Observer: obs})
		if err != nil {
			t.Fatal(err)
		}
		orderPipeline(t, h)
		if err := h.Start(ctx); err != nil {
			h.Close(ctx)
			t.Fatal(err)
		}
		return h
	}
	closeHost := func(h *host.Host) {
		cctx, cancel := context.WithTimeout(ctx, waitLimit)
		defer cancel()
		if err := h.Close(cctx); err != nil {
			t.Errorf("close: %v", err)
		}
	}

	counter := newHandledCounter()
	h := boot(counter)
	order := &event.Event{Type: "order.placed", ID: "order-1234", DataContentType: "text/plain", Data: []byte("ypayment.charged")}
	if _, err := h.Publish(ctx, order); err != nil {
		closeHost(h)
		t.Fatal(err)
	}
	counter.wait(t, "payment", 1)
	counter.wait(t, "email", 1)
	counter.wait(t, "inventory", 1)
	if err := h.FlushRuns(ctx); err != nil {
		t.Fatal(err)
	}
	tree, err := h.Trace(ctx, "order-1234")
	if err != nil {
		closeHost(h)
		t.Fatal(err)
	}
	checkOrderTree(t, tree, "order-1234")

	t.Run("http", func(t *testing.T) {
		srv := httptest.NewServer(h.Handler())
		defer srv.Close()
		get := func(path string) (int, []byte) {
			t.Helper()
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}
		code, body := get("/v1/events/order-1234/trace")
		var got api.TraceNode
		if code != http.StatusOK || json.Unmarshal(body, &got) != nil {
			t.Fatalf("GET trace: %d %s", code, body)
		}
		checkOrderTree(t, &got, "order-1234")
		if code, body := get("/v1/events/no-such-event/trace"); code != http.StatusNotFound {
			t.Errorf("unknown id: %d %s, want 404", code, body)
		}
		if code, body := get("/v1/events/order-1234/trace?depth=2"); code != http.StatusBadRequest {
			t.Errorf("unknown query parameter: %d %s, want 400", code, body)
		}
	})
	if _, err := h.Trace(ctx, "no-such-event"); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}
	closeHost(h)

	// The same data dir, a new host: the native handlers registered
	// again, the plugin's route from the config; nothing new runs.
	h = boot(newHandledCounter())
	defer closeHost(h)
	tree, err = h.Trace(ctx, "order-1234")
	if err != nil {
		t.Fatal(err)
	}
	checkOrderTree(t, tree, "order-1234")
}

// Records whose emits come back to an ancestor's id do not make a trace
// loop, and a chain deeper than MaxTraceDepth is cut, saying so.
func TestTraceCycleAndDepth(t *testing.T) {
	h := newHost(t, t.TempDir(), "[broker]\nkind = \"memory\"\n", nil)
	ctx := context.Background()
	run := func(id, typ string, emits ...*event.Event) *runlog.Record {
		return &runlog.Record{Subscription: "s", EventID: id, EventType: typ, Attempt: 1, Status: runlog.StatusDone, Emits: emits}
	}
	if err := h.Runs().Append(ctx,
		run("a", "ping", &event.Event{ID: "b", Type: "pong"}),
		run("b", "pong", &event.Event{ID: "a", Type: "ping"}, &event.Event{ID: "b", Type: "pong"}),
	); err != nil {
		t.Fatal(err)
	}
	tree, err := h.Trace(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	want := "ping\n  run s done: delivery#1=done\n    pong\n      run s done: delivery#1=done\n"
	if got := shape(tree, ""); got != want {
		t.Errorf("a cycle:\n%s\nwant:\n%s", got, want)
	}

	// chain-0 -> chain-1 -> ... -> chain-39.
	for i := 0; i < 40; i++ {
		if err := h.Runs().Append(ctx, run(fmt.Sprintf("chain-%d", i), "link", &event.Event{ID: fmt.Sprintf("chain-%d", i+1), Type: "link"})); err != nil {
			t.Fatal(err)
		}
	}
	tree, err = h.Trace(ctx, "chain-0")
	if err != nil {
		t.Fatal(err)
	}
	depth, n := 0, tree
	for len(n.Children) > 0 {
		n = n.Children[0]
		depth++
	}
	if depth != api.MaxTraceDepth || !n.Truncated || n.ID != fmt.Sprintf("chain-%d", api.MaxTraceDepth) {
		t.Errorf("the deepest event is %s at depth %d (truncated %v), want chain-%d at %d, truncated", n.ID, depth, n.Truncated, api.MaxTraceDepth, api.MaxTraceDepth)
	}
}
