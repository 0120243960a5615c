package host_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// scrape GETs /metrics without a token and parses it.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// value returns the value of the metric name whose labels include those
// given as "k=v" pairs, or -1 when there is none.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return -1
	}
next:
	for _, m := range mf.GetMetric() {
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// A known workload gives exact counts on /metrics, which needs no token
// although the API has one.
func TestMetricsCountAKnownWorkload(t *testing.T) {
	dir := t.TempDir()
	echo := writeWasm(t, dir, "echo", wasmbuild.WATFile(t, "wasm/testdata/echo.wat"))
	h, base := start(t, dir, fmt.Sprintf(`token = "s3cret"
max_body = "1KiB"

[plugins.echo]
path = %[1]q
events = ["work"]

[plugins.flaky]
path = %[1]q
events = ["flaky"]
max_attempts = 2
backoff = "1ms"
`, echo))

	// The token protects the rest of the API.
	if resp := post(t, base+"/v1/events/work", "text/plain", "e"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("ingest without the token: %s, want 401", resp.Status)
	}
	sendAs := func(path, ctype, data string, want int) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(data))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("ingest %s: %s, want %d", path, resp.Status, want)
		}
	}
	send := func(typ, data string) {
		t.Helper()
		sendAs("/v1/events/"+typ, "text/plain", data, http.StatusAccepted)
	}
	// Requests refused before their events are read: one count each.
	sendAs("/v1/events", "application/cloudevents+json", "{", http.StatusBadRequest)
	sendAs("/v1/events", "application/xml", "<e/>", http.StatusBadRequest) // not a CloudEvents mode
	// (A small body over a small limit: the server discards the rest and
	// keeps the connection, where a large one would be closed after a
	// 500 ms linger that outlasts this test's shutdown_timeout.)
	sendAs("/v1/events/work", "text/plain", strings.Repeat("x", 2048), http.StatusRequestEntityTooLarge)
	const handled, rejected = 5, 2
	for range handled {
		send("work", "e") // status 0, one emit
	}
	for range rejected {
		send("work", "fnever") // status 2: dead-lettered at once
	}
	send("flaky", "rlater") // status 1 twice, then dead-lettered

	// The Go API: accepted, duplicate, refused.
	ctx := context.Background()
	for range 2 {
		if _, err := h.Publish(ctx, &event.Event{ID: "go-1", Source: "test", Type: "unrouted"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Publish(ctx, &event.Event{ID: "go-2", Source: "test", Type: ""}); err == nil {
		t.Fatal("an event without a type was accepted")
	}

	// A scrape is not a snapshot: the collectors (the plugins' stats, the
	// bus's pending counts, each counter) are read one after another while
	// the last attempt settles, so one scrape may show its dead letter and
	// not yet its call. Scrape until every count is the one expected.
	counts := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"evhost_events_ingested_total", []string{"source=http", "result=accepted"}, handled + rejected + 1},
		{"evhost_events_ingested_total", []string{"source=http", "result=malformed"}, 2},
		{"evhost_events_ingested_total", []string{"source=http", "result=too_large"}, 1},
		{"evhost_events_ingested_total", []string{"source=http", "result=unauthorized"}, 1},
		{"evhost_events_ingested_total", []string{"source=go", "result=accepted"}, 1},
		{"evhost_events_ingested_total", []string{"source=go", "result=duplicate"}, 1},
		{"evhost_events_ingested_total", []string{"source=go", "result=invalid"}, 1},
		{"evhost_events_published_total", []string{"origin=ingest"}, handled + rejected + 2},
		{"evhost_events_published_total", []string{"origin=emit"}, handled},
		{"evhost_events_by_type_total", []string{"type=work", "stage=ingested"}, handled + rejected},
		{"evhost_events_by_type_total", []string{"type=flaky", "stage=ingested"}, 1},
		{"evhost_events_by_type_total", []string{"type=unrouted", "stage=ingested"}, 1},
		{"evhost_events_by_type_total", []string{"type=work", "stage=handled"}, handled},
		{"evhost_events_by_type_total", []string{"type=work", "stage=dead_lettered"}, rejected},
		{"evhost_events_by_type_total", []string{"type=flaky", "stage=failed"}, 2},
		{"evhost_events_by_type_total", []string{"type=flaky", "stage=dead_lettered"}, 1},
		{"evhost_events_by_type_total", []string{"type=echo.out", "stage=published"}, handled},
		{"evhost_handled_total", []string{"subscription=echo"}, handled},
		{"evhost_rejected_total", []string{"subscription=echo"}, rejected},
		{"evhost_failed_total", []string{"subscription=echo"}, 0},
		{"evhost_failed_total", []string{"subscription=flaky"}, 2},
		{"evhost_rejected_total", []string{"subscription=flaky"}, 0},
		{"evhost_handler_duration_seconds", []string{"subscription=echo"}, handled + rejected},
		{"evhost_handler_duration_seconds", []string{"subscription=flaky"}, 2},
		{"evhost_plugin_calls_total", []string{"plugin=echo"}, handled + rejected},
		{"evhost_plugin_calls_total", []string{"plugin=flaky"}, 2},
		{"evhost_plugin_discards_total", []string{"plugin=echo"}, 0},
		{"evhost_bus_pending", []string{"subscription=echo"}, 0},
		{"evhost_bus_pending", []string{"subscription=flaky"}, 0},
	}
	var mfs map[string]*dto.MetricFamily
	deadline := time.Now().Add(waitLimit)
	for {
		mfs = scrape(t, base)
		var wrong []string
		for _, c := range counts {
			if got := value(mfs, c.name, c.labels...); got != c.want {
				wrong = append(wrong, fmt.Sprintf("%s%v = %v, want %v", c.name, c.labels, got, c.want))
			}
		}
		if len(wrong) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the workload was never counted as expected:\n%s", strings.Join(wrong, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if value(mfs, "evhost_plugin_instances", "plugin=echo") < 1 {
		t.Error("evhost_plugin_instances{plugin=echo} < 1 after calls")
	}
	// Both plugins' modules are in memory, within the default budget;
	// nothing was idle long enough to be closed or evicted; the reserve of
	// linear memory has its default bound.
	for name, want := range map[string]float64{
		"evhost_wasm_compiled_modules": 2, "evhost_wasm_compiled_budget_bytes": 256 << 20,
		"evhost_wasm_evictions_total": 0, "evhost_wasm_idle_closes_total": 0,
		"evhost_wasm_memory_reserve_budget_bytes": 32 << 20,
	} {
		if got := value(mfs, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := value(mfs, "evhost_wasm_compiled_bytes"); got <= 0 || got > 256<<20 {
		t.Errorf("evhost_wasm_compiled_bytes = %v", got)
	}
	if got := value(mfs, "evhost_plugin_evictions_total", "plugin=echo"); got != 0 {
		t.Errorf("evhost_plugin_evictions_total{plugin=echo} = %v", got)
	}
	if value(mfs, "go_goroutines") <= 0 || value(mfs, "process_start_time_seconds") <= 0 {
		t.Error("no Go or process metrics")
	}

	// A config reload refused (invalid), then one done.
	cfgPath := filepath.Join(dir, "config.toml")
	good, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte("[plugins.echo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(ctx); err == nil {
		t.Fatal("an invalid config was not refused")
	}
	if err := os.WriteFile(cfgPath, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(ctx); err != nil {
		t.Fatal(err)
	}

	// A plugin reload done (new content), then one refused (not wasm).
	trivial := wasmbuild.WATFile(t, "wasm/testdata/trivial.wat")
	if err := os.WriteFile(filepath.Join(dir, "echo.wasm"), trivial, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.ReloadPlugin(ctx, "echo"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "echo.wasm"), []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.ReloadPlugin(ctx, "echo"); err == nil {
		t.Fatal("a reload of garbage was not refused")
	}
	mfs = scrape(t, base)
	for _, kind := range []string{"plugin", "config"} {
		for _, result := range []string{"done", "refused"} {
			if got := value(mfs, "evhost_reloads_total", "kind="+kind, "result="+result); got != 1 {
				t.Errorf("%s reloads %s = %v, want 1", kind, result, got)
			}
		}
	}
}
