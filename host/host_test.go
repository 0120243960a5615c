package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

const waitLimit = 2 * time.Minute // a failure bound only

// writeWasm writes a module into dir and returns its path.
func writeWasm(t testing.TB, dir, name string, bin []byte) string {
	t.Helper()
	p := filepath.Join(dir, name+".wasm")
	if err := os.WriteFile(p, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// start boots a host on the config text (with the data dir in a temp
// dir), serves its API on a loopback port and returns it and its base URL.
func start(t *testing.T, dir, toml string) (*host.Host, string) {
	t.Helper()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte("[host]\ndata_dir = \"data\"\nshutdown_timeout = \"200ms\"\n"+toml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()
	deadline := time.Now().Add(waitLimit)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("host never became ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return h, base
}

func post(t *testing.T, url, ct, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url, ct, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// A plugin stuck in an infinite loop on every one of its slots fills its
// queue; then ingest refuses new events for it with 429 and Retry-After
// instead of growing memory.
func TestBackpressureFromAStuckPlugin(t *testing.T) {
	dir := t.TempDir()
	loop := writeWasm(t, dir, "loop", wasmbuild.WATFile(t, "wasm/testdata/loop.wat"))
	_, base := start(t, dir, fmt.Sprintf(`
[plugins.stuck]
path = %q
events = ["work"]
timeout = "1m"
concurrency = 2
queue = 8
`, loop))
	accepted, refused := 0, 0
	for i := 0; i < 100 && refused == 0; i++ {
		resp := post(t, base+"/v1/events/work", "application/json", `{"n":1}`)
		switch resp.StatusCode {
		case http.StatusAccepted:
			accepted++
		case http.StatusTooManyRequests:
			refused++
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("status %s", resp.Status)
		}
	}
	if refused == 0 || accepted > 8+2 {
		t.Fatalf("accepted %d, refused %d: the stuck plugin's queue (8) did not push back", accepted, refused)
	}
}

// Healthy subscriptions keep flowing while another is stuck (progress, not
// timing).
func TestStuckPluginDoesNotDelayAnother(t *testing.T) {
	dir := t.TempDir()
	loop := writeWasm(t, dir, "loop", wasmbuild.WATFile(t, "wasm/testdata/loop.wat"))
	echo := writeWasm(t, dir, "echo", wasmbuild.WATFile(t, "wasm/testdata/echo.wat"))
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(`
[host]
data_dir = "data"
[plugins.stuck]
path = %q
events = ["work"]
timeout = "1m"
concurrency = 2
[plugins.healthy]
path = %q
events = ["work"]
concurrency = 1
`, loop, echo)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := host.New(ctx, cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		h.Close(cctx) // stops the spinning calls
	}()
	// Every "work" event goes to both plugins; the healthy one echoes an
	// emit (data "e...") that a native observer counts.
	const n = 50
	got := make(chan struct{}, n)
	h.Handle("observer", []string{"echo.out"}, func(context.Context, *event.Event, func(*event.Event)) error {
		got <- struct{}{}
		return nil
	})
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	publish := func(k int) {
		for i := 0; i < k; i++ {
			if _, err := h.Publish(ctx, &event.Event{Type: "work", Data: []byte("ex")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// First the stuck plugin takes both of its slots (as many spinning
	// guests as this machine has cores)...
	publish(2)
	deadline := time.Now().Add(waitLimit)
	for s := h.Plugin("stuck").Stats(); s.Instances != 2 || s.Idle != 0; s = h.Plugin("stuck").Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("the stuck plugin never held its 2 slots: %+v", s)
		}
		time.Sleep(time.Millisecond)
	}
	// ...then the healthy one handles every event while they stay stuck.
	publish(n - 2)
	for i := 0; i < n; i++ {
		select {
		case <-got:
		case <-time.After(waitLimit):
			t.Fatalf("the healthy plugin handled %d of %d events while the other was stuck", i, n)
		}
	}
	if s := h.Plugin("stuck").Stats(); s.Calls != 0 {
		t.Fatalf("a stuck call completed: %+v", s)
	}
}

// The CloudEvents Go SDK, a client nobody here wrote, sends events in
// binary and structured mode; a wasm handler receives every attribute
// intact.
func TestCloudEventsSDKToWasmHandler(t *testing.T) {
	dir := t.TempDir()
	attrs := writeWasm(t, dir, "attrs", wasmbuild.Go(t, "wasm/testdata/goplugins/attrs"))
	var mu sync.Mutex
	seen := map[string]map[string]string{}
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(`
[host]
data_dir = "data"
[plugins.attrs]
path = %q
events = ["sdk.>"]
`, attrs)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 10)
	h.Handle("collect", []string{"attrs.seen"}, func(_ context.Context, ev *event.Event, _ func(*event.Event)) error {
		var m map[string]string
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			return host.Reject(err)
		}
		mu.Lock()
		seen[m["id"]] = m
		mu.Unlock()
		got <- struct{}{}
		return nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Serve(ctx, ln)

	when := time.Date(2026, 11, 25, 10, 30, 0, 123456789, time.UTC)
	for _, mode := range []string{"binary", "structured"} {
		c, err := cloudevents.NewClientHTTP(cloudevents.WithTarget("http://" + ln.Addr().String() + "/v1/events"))
		if err != nil {
			t.Fatal(err)
		}
		e := cloudevents.NewEvent()
		e.SetID("sdk-" + mode)
		e.SetSource("urn:test:sdk")
		e.SetType("sdk.order.placed")
		e.SetSubject("order/42")
		e.SetTime(when)
		e.SetDataSchema("https://example.com/order.json")
		e.SetExtension("tenant", "acme")
		e.SetExtension("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		if err := e.SetData(cloudevents.ApplicationJSON, map[string]any{"id": 42}); err != nil {
			t.Fatal(err)
		}
		sctx := ctx
		if mode == "structured" {
			sctx = cloudevents.WithEncodingStructured(ctx)
		} else {
			sctx = cloudevents.WithEncodingBinary(ctx)
		}
		var res cloudevents.Result
		for i := 0; ; i++ { // the listener may not serve for a moment
			res = c.Send(sctx, e)
			if cloudevents.IsACK(res) || i > 200 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		var hr *cehttp.Result
		if !cloudevents.ResultAs(res, &hr) || hr.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: send: %v", mode, res)
		}
	}
	for i := 0; i < 2; i++ {
		select {
		case <-got:
		case <-time.After(waitLimit):
			t.Fatal("the handler did not see both events")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, mode := range []string{"binary", "structured"} {
		m := seen["sdk-"+mode]
		want := map[string]string{
			"source": "urn:test:sdk", "type": "sdk.order.placed", "specversion": "1.0",
			"subject": "order/42", "time": when.Format(time.RFC3339Nano), "dataschema": "https://example.com/order.json",
			"datacontenttype": "application/json", "tenant": "acme",
			"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s: %s = %q, want %q", mode, k, m[k], v)
			}
		}
		var data map[string]any
		if err := json.Unmarshal([]byte(m["data"]), &data); err != nil || data["id"] != float64(42) {
			t.Errorf("%s: data %q", mode, m["data"])
		}
	}
}
