package host_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// otlpReceiver is an OTLP/HTTP traces receiver: it decodes the protobuf
// export requests the SDK's exporter sends and keeps their spans.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
	names map[string]string // resource attributes seen
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	rc := &otlpReceiver{names: map[string]string{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if err != nil || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &req) != nil {
			t.Errorf("OTLP receiver: bad export %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if got := r.Header.Get("X-Api-Key"); got != "k1" {
			t.Errorf("OTLP receiver: x-api-key %q, want the configured k1", got)
		}
		rc.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, a := range rs.GetResource().GetAttributes() {
				rc.names[a.Key] = a.GetValue().GetStringValue()
			}
			for _, ss := range rs.ScopeSpans {
				rc.spans = append(rc.spans, ss.Spans...)
			}
		}
		rc.mu.Unlock()
		b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(b)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func spanAttr(s *tracepb.Span, key string) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			if v, ok := a.Value.Value.(*commonpb.AnyValue_IntValue); ok {
				return fmt.Sprint(v.IntValue)
			}
			return a.Value.GetStringValue()
		}
	}
	return ""
}

// The order pipeline with [tracing] on, started by an HTTP request that
// carries a W3C traceparent: every span lands in the OTLP receiver, in one
// trace, each run the child of the span that published its event (the
// emitting run's, for emitted events), a failed attempt marked as an
// error; the webhook receiver gets the delivery's span as its traceparent
// header and the event's as the traceparent attribute.
func TestTracingExportsTheChainOverOTLP(t *testing.T) {
	otlp := newOTLPReceiver(t)
	type hookReq struct{ header, attr string }
	hooks := make(chan hookReq, 4)
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := event.DecodeJSON(mustRead(t, r.Body))
		if err != nil {
			t.Errorf("webhook body: %v", err)
		}
		tp, _ := ev.Ext("traceparent")
		hooks <- hookReq{r.Header.Get("Traceparent"), tp}
	}))
	defer hookSrv.Close()

	dir := t.TempDir()
	echo := writeWasm(t, dir, "payment", wasmbuild.WATFile(t, "wasm/testdata/echo.wat"))
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(`
[host]
data_dir = "data"
allow_networks = ["127.0.0.0/8"]
[broker]
kind = "memory"
[tracing]
enabled = true
endpoint = %q
headers = { "x-api-key" = "k1" }
service_name = "shop-events"
[defaults]
backoff = "10ms"
[plugins.payment]
path = %q
events = ["order.placed"]
[[webhooks]]
name = "hook"
events = ["payment.charged"]
url = %q
secret = %q
`, otlp.srv.URL+"/v1/traces", echo, hookSrv.URL, hookSecret)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	counter := newHandledCounter()
	h, err := host.New(ctx, cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Observer: counter})
	if err != nil {
		t.Fatal(err)
	}
	orderPipeline(t, h)
	sent := make(chan string, 1)
	if err := h.Handle("sink", []string{"email.sent"}, func(_ context.Context, ev *event.Event, _ func(*event.Event)) error {
		tp, _ := ev.Ext("traceparent")
		sent <- tp
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/events", strings.NewReader("ypayment.charged"))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Id", "order-1")
	req.Header.Set("Ce-Source", "/shop")
	req.Header.Set("Ce-Type", "order.placed")
	req.Header.Set("Traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("publish: %s", resp.Status)
	}
	hook := <-hooks
	sentTP := <-sent
	counter.wait(t, "email", 1)
	counter.wait(t, "inventory", 1)
	counter.wait(t, "sink", 1)
	if err := h.Close(ctx); err != nil { // flushes the spans
		t.Fatal(err)
	}

	otlp.mu.Lock()
	defer otlp.mu.Unlock()
	if otlp.names["service.name"] != "shop-events" {
		t.Errorf("service.name %q, want the configured shop-events", otlp.names["service.name"])
	}
	byID := map[string]*tracepb.Span{}
	var lines []string
	for _, s := range otlp.spans {
		if got := hex.EncodeToString(s.TraceId); got != traceID {
			t.Errorf("span %q in trace %s, want the caller's %s", s.Name, got, traceID)
		}
		byID[hex.EncodeToString(s.SpanId)] = s
	}
	name := func(id []byte) string {
		s := byID[hex.EncodeToString(id)]
		switch {
		case s == nil && hex.EncodeToString(id) == callerSpan:
			return "caller"
		case s == nil:
			return "?" + hex.EncodeToString(id)
		}
		return s.Name + "[" + spanAttr(s, "evhost.subscription") + "]"
	}
	for _, s := range otlp.spans {
		line := fmt.Sprintf("%s <- %s kind=%s attempt=%s outcome=%s", name(s.SpanId), name(s.ParentSpanId),
			strings.TrimPrefix(s.Kind.String(), "SPAN_KIND_"), spanAttr(s, "evhost.attempt"), spanAttr(s, "evhost.outcome"))
		if s.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
			line += " error=" + s.Status.GetMessage()
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	want := []string{
		"deliver payment.charged[hook] <- process order.placed[payment] kind=CLIENT attempt=1 outcome=done",
		"process email.sent[sink] <- process payment.charged[email] kind=CONSUMER attempt=1 outcome=done",
		"process order.placed[payment] <- publish order.placed[] kind=CONSUMER attempt=1 outcome=done",
		"process payment.charged[email] <- process order.placed[payment] kind=CONSUMER attempt=1 outcome=retry error=smtp down",
		"process payment.charged[email] <- process order.placed[payment] kind=CONSUMER attempt=2 outcome=done",
		"process payment.charged[inventory] <- process order.placed[payment] kind=CONSUMER attempt=1 outcome=done",
		"publish order.placed[] <- caller kind=PRODUCER attempt= outcome=",
	}
	if got := strings.Join(lines, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("spans (name[subscription] <- parent):\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}

	// The webhook request's traceparent is the delivery span; the event
	// it carries names the run that emitted it.
	var deliver, payment, email2 *tracepb.Span
	for _, s := range otlp.spans {
		switch {
		case s.Name == "deliver payment.charged":
			deliver = s
		case s.Name == "process order.placed":
			payment = s
		case s.Name == "process payment.charged" && spanAttr(s, "evhost.subscription") == "email" && spanAttr(s, "evhost.attempt") == "2":
			email2 = s
		}
	}
	tp := func(s *tracepb.Span) string {
		return "00-" + traceID + "-" + hex.EncodeToString(s.SpanId) + "-01"
	}
	if got := spanAttr(deliver, "http.response.status_code"); got != "200" {
		t.Errorf("deliver span: http.response.status_code %q, want 200", got)
	}
	if hook.header != tp(deliver) || hook.attr != tp(payment) {
		t.Errorf("webhook traceparent header %q, attribute %q; want the delivery's %q and the emitting run's %q",
			hook.header, hook.attr, tp(deliver), tp(payment))
	}
	if sentTP != tp(email2) {
		t.Errorf("email.sent traceparent %q, want the span of the run that emitted it %q", sentTP, tp(email2))
	}
}

// With [tracing] off nothing is exported, but the W3C trace context still
// travels: an HTTP request's traceparent header becomes the event's
// traceparent, emits inherit it, and the webhook request carries it.
func TestTraceParentTravelsWithTracingOff(t *testing.T) {
	hooks := make(chan string, 1)
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooks <- r.Header.Get("Traceparent")
	}))
	defer hookSrv.Close()
	dir := t.TempDir()
	echo := writeWasm(t, dir, "payment", wasmbuild.WATFile(t, "wasm/testdata/echo.wat"))
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(`
[host]
data_dir = "data"
allow_networks = ["127.0.0.0/8"]
[broker]
kind = "memory"
[plugins.payment]
path = %q
events = ["order.placed"]
[[webhooks]]
name = "hook"
events = ["payment.charged"]
url = %q
secret = %q
`, echo, hookSrv.URL, hookSecret)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := host.New(ctx, cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/events",
		strings.NewReader(`{"specversion":"1.0","id":"o-2","source":"/shop","type":"order.placed","datacontenttype":"text/plain","data":"ypayment.charged"}`))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("Traceparent", tp)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("publish: %s", resp.Status)
	}
	if got := <-hooks; got != tp {
		t.Errorf("webhook traceparent %q, want the request's %q, carried through the emit", got, tp)
	}
}

func mustRead(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Error(err)
	}
	return b
}
