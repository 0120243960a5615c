package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/api"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// The status workload's token and events.
const (
	statusToken = "st4tus-t0ken"
	// hostileType, hostileID and hostileReason would run script if a page
	// put them in as HTML.
	hostileType   = `evil.<img/src=x/onerror=window.pwned=1//&amp;`
	hostileID     = `<img src=x onerror="window.pwned=2">`
	hostileReason = `<script>window.pwned=3</script><b>bold</b>`
)

// startStatusHost starts a host on an embedded NATS bus with a token,
// serving on a loopback port: the order pipeline (the wasm plugin payment,
// the native email and inventory), and a native audit of evil.> events
// that rejects every one. It returns the host and the API's base URL.
func startStatusHost(t *testing.T) (*host.Host, string) {
	t.Helper()
	dir := t.TempDir()
	echo := writeWasm(t, dir, "payment", wasmbuild.WATFile(t, "wasm/testdata/echo.wat"))
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(`
[host]
data_dir = "data"
token = %q
shutdown_timeout = "200ms"
[broker]
kind = "embedded"
[plugins.payment]
path = %q
events = ["order.placed"]
`, statusToken, echo)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h, err := host.New(ctx, cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	orderPipeline(t, h)
	if err := h.Handle("audit", []string{"evil.>"}, func(context.Context, *event.Event, func(*event.Event)) error {
		return host.Reject(errors.New(hostileReason))
	}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()
	// Serve starts the host: publish once its subscriptions exist.
	deadline := time.Now().Add(waitLimit)
	for {
		if code, _ := getWithToken(t, base+"/readyz", ""); code == http.StatusOK {
			return h, base
		}
		if time.Now().After(deadline) {
			t.Fatal("the host never became ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// publishStatusWorkload publishes the workload: order-1 runs the whole
// pipeline (email fails once, then succeeds), order-2 is rejected by
// payment ("card declined") and dead-lettered, and the hostile event is
// rejected by audit and dead-lettered.
func publishStatusWorkload(t *testing.T, h *host.Host) {
	t.Helper()
	ctx := context.Background()
	for _, ev := range []*event.Event{
		{Type: "order.placed", ID: "order-1", DataContentType: "text/plain", Data: []byte("ypayment.charged")},
		{Type: "order.placed", ID: "order-2", DataContentType: "text/plain", Data: []byte("fcard declined")},
		{Type: hostileType, ID: hostileID},
	} {
		if _, err := h.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
}

// getStatus GETs /v1/status with the token.
func getStatus(t *testing.T, base string) *api.Status {
	t.Helper()
	code, body := getWithToken(t, base+"/v1/status", statusToken)
	if code != http.StatusOK {
		t.Fatalf("GET /v1/status: %d %s", code, body)
	}
	var st api.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("GET /v1/status: %v in %s", err, body)
	}
	return &st
}

func getWithToken(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// subscriptionCounts renders the subscriptions of st as
// "name kind patterns handled/failed/dead" lines.
func subscriptionCounts(st *api.Status) string {
	var b strings.Builder
	for _, s := range st.Subscriptions {
		fmt.Fprintf(&b, "%s %s %s %d/%d/%d\n", s.Name, s.Kind, strings.Join(s.Patterns, ","), s.Handled, s.Failed, s.DeadLettered)
	}
	return b.String()
}

// wantStatusCounts are the subscriptions after the workload: payment
// handled order-1 and rejected order-2; email failed once on order-1's
// payment.charged; audit rejected the hostile event.
const wantStatusCounts = `payment plugin order.placed 1/0/1
email native payment.charged 1/1/0
inventory native payment.charged 1/0/0
audit native evil.> 0/0/1
`

// waitStatus polls GET /v1/status until the workload is counted and its
// last runs (email's retry) are recorded.
func waitStatus(t *testing.T, base string) *api.Status {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		st := getStatus(t, base)
		if subscriptionCounts(st) == wantStatusCounts && len(st.RecentRuns) == 6 && len(st.DeadLetters.Latest) == 2 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("the workload was never shown; last status:\n%s\n%d runs, %d dead letters",
				subscriptionCounts(st), len(st.RecentRuns), len(st.DeadLetters.Latest))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// GET /v1/status after a known workload: the subscriptions with their
// counts, the plugin with its version and last failure, the recent runs,
// the dead letters, and rates once two samples exist.
func TestStatusJSON(t *testing.T) {
	h, base := startStatusHost(t)
	if code, body := getWithToken(t, base+"/v1/status", ""); code != http.StatusUnauthorized {
		t.Fatalf("GET /v1/status without the token: %d %s, want 401", code, body)
	}
	if code, body := getWithToken(t, base+"/v1/status?x=1", statusToken); code != http.StatusBadRequest {
		t.Errorf("GET /v1/status?x=1: %d %s, want 400", code, body)
	}
	publishStatusWorkload(t, h)
	st := waitStatus(t, base)

	if w := st.Wasm; w == nil || w.CompiledModules != 1 || w.CompiledBytes <= 0 || w.CompiledBudget != 256<<20 || w.Evictions != 0 {
		t.Errorf("wasm: %+v, want the payment plugin's module in memory within the default budget", w)
	}
	if st.Host.Broker != "embedded" || st.Host.Version == "" || st.Host.UptimeSeconds <= 0 || st.Host.Started.IsZero() {
		t.Errorf("host: %+v", st.Host)
	}
	for _, s := range st.Subscriptions {
		if s.Pending != 0 {
			t.Errorf("subscription %s: pending %d after the workload, want 0", s.Name, s.Pending)
		}
	}
	if len(st.Plugins) != 1 {
		t.Fatalf("plugins: %+v", st.Plugins)
	}
	p := st.Plugins[0]
	if p.Name != "payment" || len(p.Version) != 64 || p.LoadedAt.IsZero() || p.LastRefusal != nil {
		t.Errorf("plugin: %+v", p)
	}
	if f := p.LastFailure; f == nil || f.EventID != "order-2" || f.Status != "reject" || f.Reason != "card declined" || f.Version != p.Version {
		t.Errorf("payment's last failure: %+v, want order-2 rejected: card declined, by version %s", f, p.Version)
	}

	// Newest first; the runs of concurrent subscriptions may be recorded
	// in either order, so compare the sets.
	var runs []string
	for _, r := range st.RecentRuns {
		runs = append(runs, fmt.Sprintf("%s %s %s #%d %s %s", r.EventID, r.EventType, r.Subscription, r.Attempt, r.Status, r.Reason))
		if r.Start.IsZero() || r.Kind != "delivery" {
			t.Errorf("run without start or kind: %+v", r)
		}
	}
	charged := event.ChildID(&event.Event{ID: "order-1", Source: "evhost://go"}, "payment", 0)
	for _, want := range []string{
		"order-1 order.placed payment #1 done ",
		"order-2 order.placed payment #1 reject card declined",
		hostileID + " " + hostileType + " audit #1 reject " + hostileReason,
		charged + " payment.charged email #1 retry smtp down",
		charged + " payment.charged email #2 done ",
		charged + " payment.charged inventory #1 done ",
	} {
		if !strings.Contains(strings.Join(runs, "\n")+"\n", want+"\n") {
			t.Errorf("recent runs lack %q:\n%s", want, strings.Join(runs, "\n"))
		}
	}
	for i := 1; i < len(st.RecentRuns); i++ {
		if st.RecentRuns[i].Start.After(st.RecentRuns[i-1].Start.Add(time.Second)) {
			t.Errorf("recent runs not newest first: %v", runs)
		}
	}

	dl := st.DeadLetters
	if dl.SinceStart != 2 {
		t.Errorf("dead letters since start: %d, want 2", dl.SinceStart)
	}
	var dls []string
	for _, d := range dl.Latest {
		var ev struct{ ID, Type string }
		json.Unmarshal(d.Event, &ev)
		dls = append(dls, fmt.Sprintf("%s %s %s: %s", d.Subscription, ev.ID, ev.Type, d.Reason))
	}
	if len(dls) != 2 || !strings.Contains(strings.Join(dls, "\n"), "payment order-2 order.placed: card declined") ||
		!strings.Contains(strings.Join(dls, "\n"), "audit "+hostileID+" "+hostileType+": "+hostileReason) {
		t.Errorf("latest dead letters:\n%s", strings.Join(dls, "\n"))
	}
	if dl.Latest[0].ID < dl.Latest[1].ID {
		t.Errorf("latest dead letters not newest first: %d, %d", dl.Latest[0].ID, dl.Latest[1].ID)
	}

	// Redriving a dead letter takes it off the latest (it is rejected
	// again by payment, so a new one comes in its place).
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/v1/admin/dlq/%d/retry", base, dl.Latest[1].ID), nil)
	req.Header.Set("Authorization", "Bearer "+statusToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("redrive: %s", resp.Status)
	}
	deadline := time.Now().Add(waitLimit)
	for {
		st = getStatus(t, base)
		ids := []uint64{}
		for _, d := range st.DeadLetters.Latest {
			ids = append(ids, d.ID)
		}
		if st.DeadLetters.SinceStart == 3 && len(ids) == 2 && ids[0] > dl.Latest[0].ID && ids[1] == dl.Latest[0].ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a redrive: %d since start, latest %v; want 3, [new %d]", st.DeadLetters.SinceStart, ids, dl.Latest[0].ID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The page's assets are public (they hold no data) and forbid inline
// script; / and /status lead to them.
func TestStatusPageAssets(t *testing.T) {
	_, base := startStatusHost(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/", "/status"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/status/" {
			t.Errorf("GET %s: %s to %q, want a redirect to /status/", path, resp.Status, resp.Header.Get("Location"))
		}
	}
	for path, want := range map[string]string{
		"/status/":           "text/html",
		"/status/status.js":  "text/javascript",
		"/status/status.css": "text/css",
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), want) || len(body) == 0 {
			t.Errorf("GET %s: %s %q, want 200 %s", path, resp.Status, resp.Header.Get("Content-Type"), want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
	if code, _ := getWithToken(t, base+"/status/nothing", ""); code != http.StatusNotFound {
		t.Errorf("GET /status/nothing: %d, want 404", code)
	}
	// The script never parses data as HTML.
	_, src := getWithToken(t, base+"/status/status.js", "")
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(string(src), bad) {
			t.Errorf("status.js uses %s", bad)
		}
	}
}
