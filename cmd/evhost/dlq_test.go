package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evhost/evhost/host/api"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
)

// outcomes is a dispatch.Observer that passes on the status of each
// delivery handled, once it is settled.
type outcomes chan dispatch.Status

func (o outcomes) Handled(_ string, _ *event.Event, _ int, out dispatch.Outcome, _ time.Duration) {
	o <- out.Status
}

func (o outcomes) want(t *testing.T, n int, s dispatch.Status) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case got := <-o:
			if got != s {
				t.Fatalf("delivery %d of %d: status %v, want %v", i+1, n, got, s)
			}
		case <-time.After(2 * time.Minute): // a failure bound only
			t.Fatalf("%d of %d deliveries handled", i, n)
		}
	}
}

// dlqDaemon serves, in process, a host whose native handler "orders"
// rejects every event until fixed is set; it returns the API's address.
func dlqDaemon(t *testing.T, fixed *atomic.Bool, obs outcomes) (*host.Host, string) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte("[host]\ndata_dir = \"data\"\ntoken = \"s3cret\"\n[defaults]\nconcurrency = 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Bus: membus.New(membus.Options{}), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	h.Handle("orders", []string{"order.*"}, func(_ context.Context, ev *event.Event, _ func(*event.Event)) error {
		if fixed.Load() {
			return nil
		}
		return host.Reject(errors.New("no such product\nin the catalogue"))
	})
	addr := serveHost(t, h)
	return h, addr
}

// serveHost starts h and serves its API on a loopback port until the test
// ends; it returns the address.
func serveHost(t *testing.T, h *host.Host) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- h.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// runCLI runs the CLI in process and returns its exit code and output.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// `evhost dlq list|show|retry` against a daemon: the table, JSON lines and
// paging, one dead letter in full, retries by ID and of a whole
// subscription, and the exit codes of refusals.
func TestDLQCommands(t *testing.T) {
	t.Setenv("EVHOST_TOKEN", "")
	var fixed atomic.Bool
	obs := make(outcomes, 64)
	h, addr := dlqDaemon(t, &fixed, obs)
	for i := 1; i <= 3; i++ {
		ev := &event.Event{Type: "order.placed", ID: fmt.Sprintf("order-%d", i), DataContentType: "application/json", Data: []byte(`{}`)}
		if _, err := h.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	obs.want(t, 3, dispatch.Reject)
	daemon := []string{"--addr", addr, "--token", "s3cret"}
	cmd := func(sub string, args ...string) []string {
		return append(append([]string{"dlq", sub}, daemon...), args...)
	}

	code, out, errOut := runCLI(cmd("list")...)
	if code != exitOK {
		t.Fatalf("list: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^ID\s+TIME\s+SUBSCRIPTION\s+ATTEMPTS\s+EVENT TYPE\s+EVENT ID\s+REASON$`).MatchString(lines[0]) {
		t.Fatalf("list:\n%s", out)
	}
	row := regexp.MustCompile(`^(\d+)\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+orders\s+1\s+order\.placed\s+order-(\d)\s+no such product in the catalogue$`)
	var ids []string
	for i, l := range lines[1:] {
		m := row.FindStringSubmatch(l)
		if m == nil || m[2] != fmt.Sprint(i+1) {
			t.Fatalf("row %d: %q", i+1, l)
		}
		ids = append(ids, m[1])
	}

	code, out, errOut = runCLI(cmd("list", "--json", "--subscription", "orders", "--limit", "2")...)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 2 || !strings.Contains(errOut, "more dead letters after ID "+ids[1]) {
		t.Fatalf("list --json --limit 2: exit %d:\n%s\n%s", code, out, errOut)
	}
	var dl api.DeadLetterInfo
	if err := json.Unmarshal([]byte(lines[1]), &dl); err != nil || fmt.Sprint(dl.ID) != ids[1] || dl.Subscription != "orders" || !dl.Terminated {
		t.Fatalf("JSON line %q: %v", lines[1], err)
	}

	code, out, errOut = runCLI(cmd("show", ids[0])...)
	dl = api.DeadLetterInfo{}
	if err := json.Unmarshal([]byte(out), &dl); code != exitOK || err != nil || fmt.Sprint(dl.ID) != ids[0] || !strings.Contains(out, "\n  \"event\": {") {
		t.Fatalf("show: exit %d, %v:\n%s%s", code, err, out, errOut)
	}
	if ev, err := event.DecodeJSON(dl.Event); err != nil || ev.ID != "order-1" {
		t.Fatalf("show: event %s: %v", dl.Event, err)
	}
	if code, _, errOut = runCLI(cmd("show", "999")...); code != exitRejected || !strings.Contains(errOut, "no dead letter 999") {
		t.Fatalf("show 999: exit %d: %s", code, errOut)
	}
	if code, _, errOut = runCLI("dlq", "list", "--addr", addr); code != exitAuth {
		t.Fatalf("list without the token: exit %d: %s", code, errOut)
	}

	fixed.Store(true)
	code, out, errOut = runCLI(cmd("retry", ids[0], "999")...)
	if code != exitRejected || out != "redriven "+ids[0]+"\n" || !strings.Contains(errOut, "dead letter 999: refused (404 Not Found): no dead letter 999") {
		t.Fatalf("retry %s 999: exit %d:\n%s%s", ids[0], code, out, errOut)
	}
	obs.want(t, 1, dispatch.Done)
	if code, out, errOut = runCLI(cmd("retry", "--subscription", "orders", "--all")...); code != exitOK || out != "redriven 2 dead letters of orders\n" {
		t.Fatalf("retry --all: exit %d:\n%s%s", code, out, errOut)
	}
	obs.want(t, 2, dispatch.Done)
	if code, out, errOut = runCLI(cmd("list")...); code != exitOK || out != "" || errOut != "no dead letters\n" {
		t.Fatalf("list at the end: exit %d:\n%s%s", code, out, errOut)
	}
}

// Usage errors exit 2 before asking the daemon anything; a busy daemon
// (429) exits 3, as publish does.
func TestDLQUsageAndBusy(t *testing.T) {
	for _, args := range [][]string{
		{"dlq"}, {"dlq", "bogus"}, {"dlq", "show"}, {"dlq", "show", "x"}, {"dlq", "show", "0"},
		{"dlq", "retry"}, {"dlq", "retry", "--all"}, {"dlq", "retry", "--subscription", "s"},
		{"dlq", "retry", "--subscription", "s", "--all", "7"}, {"dlq", "list", "extra"}, {"dlq", "list", "--limit", "-1"},
	} {
		if len(args) > 1 { // flags go before the arguments
			args = append(append(args[:2:2], "--addr", "127.0.0.1:1"), args[2:]...)
		}
		if code, _, errOut := runCLI(args...); code != exitUsage || errOut == "" {
			t.Errorf("%q: exit %d: %s", args, code, errOut)
		}
	}
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		if r.URL.Path == "/v1/admin/dlq/retry" {
			json.NewEncoder(w).Encode(api.RedriveReport{Subscription: "s", Redriven: 2, Remaining: 3, Error: "stopped: full"})
			return
		}
		fmt.Fprintln(w, `{"error":"subscription \"s\" is full"}`)
	}))
	defer busy.Close()
	addr := strings.TrimPrefix(busy.URL, "http://")
	if code, _, errOut := runCLI("dlq", "retry", "--addr", addr, "5", "6"); code != exitRetry || strings.Count(errOut, "busy") != 1 {
		t.Fatalf("retry 5 6: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCLI("dlq", "retry", "--addr", addr, "--subscription", "s", "--all")
	if code != exitRetry || out != "redriven 2 dead letters of s\n" || !strings.Contains(errOut, "3 dead letters of s remain") {
		t.Fatalf("retry --all: exit %d:\n%s%s", code, out, errOut)
	}
}
