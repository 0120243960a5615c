package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
)

// A webhook created at runtime with `evhost subscriptions add-webhook` on
// one of 2 daemons sharing a NATS server is served by the other (with a
// valid Standard Webhooks signature) once the first is gone; a daemon
// that starts again lists it; `delete-webhook` on it stops the other, and
// its subscription is gone.
func TestAddWebhookTwoDaemons(t *testing.T) {
	t.Setenv("EVHOST_TOKEN", "")
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS not ready")
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]int{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			t.Errorf("signature refused: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	t.Cleanup(recv.Close)
	delivered := func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return got[id]
	}

	dir := t.TempDir()
	daemon := func(name string) (*host.Host, string, func()) {
		t.Helper()
		text := fmt.Sprintf("[host]\ndata_dir = %q\ntoken = \"s3cret\"\nallow_networks = [\"127.0.0.0/8\"]\nshutdown_timeout = \"2s\"\n"+
			"[broker]\nkind = \"nats\"\nurl = %q\n[defaults]\nbackoff = \"10ms\"\n", filepath.Join(dir, name), ns.ClientURL())
		cfg, err := config.Parse(filepath.Join(dir, name+".toml"), []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- h.Serve(ctx, ln) }()
		var once sync.Once
		stop := func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serve %s: %v", name, err)
				}
			})
		}
		t.Cleanup(stop)
		addr := ln.Addr().String()
		for h.Addr() == "" { // Serve starts the host, then serves
			time.Sleep(5 * time.Millisecond)
		}
		return h, addr, stop
	}
	cli := func(addr string, args ...string) (int, string, string) {
		// The daemon's flags go before the command's arguments.
		return runCLI(append(append(args[:2:2], "--addr", addr, "--token", "s3cret", "--config", ""), args[2:]...)...)
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 30s", what)
			}
		}
	}
	listed := func(addr string) string {
		code, out, errOut := cli(addr, "webhooks", "list")
		if code != exitOK {
			t.Fatalf("webhooks list: exit %d: %s", code, errOut)
		}
		return out
	}

	_, addr1, stop1 := daemon("d1")
	h2, addr2, _ := daemon("d2")

	// Usage errors, then the webhook, with its secret from the environment.
	if code, _, _ := cli(addr1, "subscriptions", "add-webhook", "crm", "--url", recv.URL); code != exitUsage {
		t.Fatalf("add-webhook without --events: exit %d", code)
	}
	t.Setenv("CRM_SECRET", secret)
	code, out, errOut := cli(addr1, "subscriptions", "add-webhook", "--url", recv.URL+"/hooks", "--events", "user.*, order.paid",
		"--secret-env", "CRM_SECRET", "--header", "X-Tenant: shop", "crm")
	if code != exitOK || out != fmt.Sprintf("created webhook crm: [\"user.*\",\"order.paid\"] -> %s/hooks\n", recv.URL) || errOut != "" {
		t.Fatalf("add-webhook: exit %d: %q %q", code, out, errOut)
	}
	if code, _, errOut := cli(addr2, "subscriptions", "add-webhook", "--url", recv.URL, "--events", "x", "crm"); code != exitRejected || !strings.Contains(errOut, "already created") {
		t.Fatalf("add-webhook again: exit %d: %s", code, errOut)
	}
	if code, _, errOut := cli(addr2, "subscriptions", "add-webhook", "--url", "http://10.1.2.3/", "--events", "x", "other"); code != exitRejected || !strings.Contains(errOut, "allow_networks") {
		t.Fatalf("add-webhook to a private address: exit %d: %s", code, errOut)
	}
	row := regexp.MustCompile(`(?m)^crm\s+api\s+active\s+\["user\.\*","order\.paid"\]\s+http://127`)
	eventually("d2 lists crm", func() bool { return row.MatchString(listed(addr2)) })

	// d1 goes; d2 serves the webhook.
	stop1()
	if _, err := h2.Publish(context.Background(), &event.Event{ID: "o1", Type: "order.paid", Source: "test"}); err != nil {
		t.Fatal(err)
	}
	eventually("o1 delivered by d2", func() bool { return delivered("o1") == 1 })
	code, out, _ = cli(addr2, "subscriptions", "list")
	if code != exitOK || !regexp.MustCompile(`(?m)^crm\s+webhook\s+running\s`).MatchString(out) {
		t.Fatalf("subscriptions list: exit %d:\n%s", code, out)
	}

	// d1 again: it reads the webhook from the broker.
	_, addr1, _ = daemon("d1")
	if !row.MatchString(listed(addr1)) {
		t.Fatalf("d1 after its restart:\n%s", listed(addr1))
	}
	if code, _, errOut := cli(addr1, "subscriptions", "delete-webhook", "crm"); code != exitUsage || !strings.Contains(errOut, "--yes") {
		t.Fatalf("delete-webhook without --yes: exit %d: %s", code, errOut)
	}
	if code, out, errOut := cli(addr1, "subscriptions", "delete-webhook", "--yes", "crm"); code != exitOK || out != "deleted webhook crm and its subscription\n" {
		t.Fatalf("delete-webhook: exit %d: %s %s", code, out, errOut)
	}
	eventually("d2 drops crm", func() bool { return !strings.Contains(listed(addr2), "crm") })
	if code, _, errOut := cli(addr2, "subscriptions", "delete-webhook", "--yes", "crm"); code != exitRejected || !strings.Contains(errOut, "no such webhook") {
		t.Fatalf("delete-webhook again: exit %d: %s", code, errOut)
	}
	code, out, _ = cli(addr2, "subscriptions", "list")
	if code != exitOK || strings.Contains(out, "crm") {
		t.Fatalf("subscriptions list after the delete: exit %d:\n%s", code, out)
	}
	if err := h2.PauseSubscription(context.Background(), "crm"); err == nil {
		t.Fatal("the deleted webhook's subscription is still there")
	}
}
