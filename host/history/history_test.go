package history_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/history"
	"github.com/evhost/evhost/host/httpapi"
	"github.com/evhost/evhost/host/metrics"
)

// fixture is a history over real metrics, with subscriptions and pending
// counts the test sets.
type fixture struct {
	m       *metrics.Metrics
	pub     bus.Publisher
	mu      sync.Mutex
	subs    []string
	pending map[string]int64
	h       *history.History
}

func newFixture(t *testing.T, o history.Options) *fixture {
	t.Helper()
	f := &fixture{m: metrics.New(metrics.Options{}), pending: map[string]int64{}}
	b := membus.New(membus.Options{})
	t.Cleanup(func() { b.Close(context.Background()) })
	f.pub = f.m.Publisher("go", b)
	o.Source = f.m
	o.Subscriptions = func() []api.SubscriptionStatus {
		f.mu.Lock()
		defer f.mu.Unlock()
		var out []api.SubscriptionStatus
		for _, s := range f.subs {
			out = append(out, api.SubscriptionStatus{Name: s})
		}
		return out
	}
	o.Pending = func() map[string]int64 {
		f.mu.Lock()
		defer f.mu.Unlock()
		out := map[string]int64{}
		for k, v := range f.pending {
			out[k] = v
		}
		return out
	}
	f.h = history.New(o)
	return f
}

func (f *fixture) handle(t *testing.T, sub string, n int, status dispatch.Status, took time.Duration) {
	t.Helper()
	ev := &event.Event{ID: "x", Type: "order.placed", Source: "/t", SpecVersion: event.SpecVersion}
	for range n {
		f.m.Handled(sub, ev, 1, dispatch.Outcome{Status: status}, took)
	}
}

func (f *fixture) publish(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		ev := &event.Event{ID: time.Now().Format(time.RFC3339Nano) + string(rune('a'+i%26)), Type: "order.placed", Source: "/t", SpecVersion: event.SpecVersion}
		if _, err := f.pub.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// The rates, pending counts and latency percentiles of each interval come
// out of the metrics' counters and histogram buckets; an interval without
// runs has no latency; a subscription that appears later has no values
// before it did.
func TestHistoryPoints(t *testing.T) {
	f := newFixture(t, history.Options{Interval: 10 * time.Second})
	t0 := time.Now()
	f.mu.Lock()
	f.subs = []string{"payment"}
	f.pending["payment"] = 7
	f.mu.Unlock()

	// Interval 1: 100 handled by payment, 90 in 2 ms and 10 in 200 ms; 4
	// failed; 50 ingested.
	f.handle(t, "payment", 90, dispatch.Done, 2*time.Millisecond)
	f.handle(t, "payment", 10, dispatch.Done, 200*time.Millisecond)
	f.handle(t, "payment", 4, dispatch.Retry, time.Millisecond)
	f.publish(t, 50)
	f.h.Sample(t0.Add(10 * time.Second))

	// Interval 2: nothing handled; a second subscription appears.
	f.mu.Lock()
	f.subs = append(f.subs, "audit")
	f.pending["payment"] = 0
	delete(f.pending, "audit")
	f.mu.Unlock()
	f.h.Sample(t0.Add(20 * time.Second))

	s := f.h.Snapshot(t0.Add(20*time.Second + 500*time.Millisecond)) // too soon for a live point
	if len(s.Times) != 2 {
		t.Fatalf("%d points, want 2", len(s.Times))
	}
	// The first interval is from New (a moment before t0) to t0+10s.
	if s.Ingested[0] < 4.9 || s.Ingested[0] > 5.01 || s.Handled[0] < 9.9 || s.Handled[0] > 10.01 || s.Failed[0] < 0.39 || s.Failed[0] > 0.401 {
		t.Errorf("rates of interval 1: ingested %v handled %v failed %v, want 5, 10, 0.4", s.Ingested[0], s.Handled[0], s.Failed[0])
	}
	if s.Ingested[1] != 0 || s.Handled[1] != 0 || s.Failed[1] != 0 {
		t.Errorf("rates of interval 2: %v %v %v, want 0", s.Ingested[1], s.Handled[1], s.Failed[1])
	}
	if len(s.Subscriptions) != 2 || s.Subscriptions[0].Name != "payment" || s.Subscriptions[1].Name != "audit" {
		t.Fatalf("subscriptions %+v", s.Subscriptions)
	}
	pay, audit := s.Subscriptions[0], s.Subscriptions[1]
	if pay.Pending[0] == nil || *pay.Pending[0] != 7 || pay.Pending[1] == nil || *pay.Pending[1] != 0 {
		t.Errorf("payment pending %v, want 7 then 0", pay.Pending)
	}
	// 104 observations: 94 at or under 2.5 ms, 10 in (0.1, 0.25].
	if pay.P50[0] == nil || *pay.P50[0] <= 0.001 || *pay.P50[0] > 0.0025 {
		t.Errorf("payment p50 %v, want in (1 ms, 2.5 ms]", pay.P50[0])
	}
	if pay.P99[0] == nil || *pay.P99[0] <= 0.1 || *pay.P99[0] > 0.25 {
		t.Errorf("payment p99 %v, want in (100 ms, 250 ms]", pay.P99[0])
	}
	if pay.P50[1] != nil || pay.P99[1] != nil {
		t.Errorf("payment latency in an interval without runs: %v %v, want null", pay.P50[1], pay.P99[1])
	}
	if audit.Pending[0] != nil || audit.P50[0] != nil {
		t.Errorf("audit has values before it existed: %v %v", audit.Pending[0], audit.P50[0])
	}
	if audit.Pending[1] == nil || *audit.Pending[1] != 0 {
		t.Errorf("audit pending %v, want 0 (the bus tells and holds none)", audit.Pending[1])
	}

	// A live point covers the time since the last sample.
	f.handle(t, "audit", 30, dispatch.Done, 40*time.Millisecond)
	s = f.h.Snapshot(t0.Add(25 * time.Second))
	if len(s.Times) != 3 || math.Abs(s.Handled[2]-6) > 0.01 {
		t.Fatalf("live point: %d points, handled %v, want 3 points and 6/s", len(s.Times), s.Handled)
	}
	if p := s.Subscriptions[1].P50[2]; p == nil || *p <= 0.025 || *p > 0.05 {
		t.Errorf("audit live p50 %v, want in (25 ms, 50 ms]", p)
	}
}

// The ring keeps Window/Interval points, whatever the number of samples.
func TestHistoryBounded(t *testing.T) {
	f := newFixture(t, history.Options{Interval: time.Second, Window: time.Minute})
	f.subs = []string{"a"}
	t0 := time.Now()
	for i := range 500 {
		f.handle(t, "a", 1, dispatch.Done, time.Millisecond)
		f.h.Sample(t0.Add(time.Duration(i+1) * time.Second))
	}
	s := f.h.Snapshot(t0.Add(500 * time.Second))
	if len(s.Times) != 60 {
		t.Fatalf("%d points, want 60", len(s.Times))
	}
	if !s.Times[59].Equal(t0.Add(500*time.Second).UTC()) || !s.Times[0].Equal(t0.Add(441*time.Second).UTC()) {
		t.Errorf("points from %v to %v, want the last 60 samples", s.Times[0], s.Times[59])
	}
	for i, v := range s.Handled {
		if math.Abs(v-1) > 1e-9 {
			t.Fatalf("handled[%d] = %v, want 1/s", i, v)
		}
	}
}

// GET /v1/status/history through the API server: JSON, behind the token,
// unknown parameters refused; Start samples on its own and Stop ends it.
func TestHistoryRoute(t *testing.T) {
	f := newFixture(t, history.Options{})
	h := history.Start(history.Options{Source: f.m, Interval: 20 * time.Millisecond})
	defer h.Stop()
	srv := httpapi.New(httpapi.Options{Publisher: f.pub, Token: "s3cret"})
	srv.Mount(h)
	get := func(path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Host = "localhost"
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		return w
	}
	if w := get("/v1/status/history", ""); w.Code != http.StatusUnauthorized {
		t.Errorf("without the token: %d", w.Code)
	}
	if w := get("/v1/status/history?x=1", "s3cret"); w.Code != http.StatusBadRequest {
		t.Errorf("unknown parameter: %d", w.Code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		w := get("/v1/status/history", "s3cret")
		var s api.StatusHistory
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &s) != nil {
			t.Fatalf("GET: %d %s", w.Code, w.Body)
		}
		if len(s.Times) >= 3 && s.IntervalSeconds == 0.02 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ticker added no points: %s", w.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.Stop()
	h.Stop()
	var nilHistory *history.History
	nilHistory.Stop()
}

// BenchmarkSample is one sample of a daemon with 50 subscriptions that
// all ran: the ticker's work every 10 s.
func BenchmarkSample(b *testing.B) {
	f := &fixture{m: metrics.New(metrics.Options{}), pending: map[string]int64{}}
	for i := range 50 {
		f.subs = append(f.subs, "sub"+string(rune('A'+i%26))+string(rune('a'+i/26)))
	}
	h := history.New(history.Options{Source: f.m, Subscriptions: func() []api.SubscriptionStatus {
		out := make([]api.SubscriptionStatus, len(f.subs))
		for i, s := range f.subs {
			out[i].Name = s
		}
		return out
	}})
	ev := &event.Event{ID: "x", Type: "t", Source: "/t", SpecVersion: event.SpecVersion}
	t0 := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for _, s := range f.subs {
			f.m.Handled(s, ev, 1, dispatch.Outcome{Status: dispatch.Done}, time.Millisecond)
		}
		h.Sample(t0.Add(time.Duration(i+1) * 10 * time.Second))
	}
}
