package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
)

// `evhost webhooks list|deliveries|enable` against a daemon whose one
// webhook answers 410 Gone: it shows as disabled, its attempt is in the
// log with the status, and enable enables it.
func TestWebhooksCommands(t *testing.T) {
	t.Setenv("EVHOST_TOKEN", "")
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "this endpoint is gone", http.StatusGone)
	}))
	t.Cleanup(recv.Close)
	dir := t.TempDir()
	toml := fmt.Sprintf("[host]\ndata_dir = \"data\"\ntoken = \"s3cret\"\nallow_networks = [\"127.0.0.0/8\"]\n"+
		"[[webhooks]]\nname = \"crm\"\nevents = [\"user.created\"]\nurl = %q\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n", recv.URL)
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	obs := make(outcomes, 8)
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Bus: membus.New(membus.Options{}), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveHost(t, h)
	if _, err := h.Publish(context.Background(), &event.Event{Type: "user.created", ID: "u1"}); err != nil {
		t.Fatal(err)
	}
	obs.want(t, 1, dispatch.Reject)
	daemon := []string{"--addr", addr, "--token", "s3cret"}
	cmd := func(sub string, args ...string) []string {
		return append(append([]string{"webhooks", sub}, daemon...), args...)
	}

	code, out, errOut := runCLI(cmd("list")...)
	if code != exitOK || !regexp.MustCompile(`(?m)^crm\s+config\s+disabled since \S+Z: endpoint disabled \(410 Gone\)\s+\["user.created"\]\s+http://127`).MatchString(out) {
		t.Fatalf("list: exit %d:\n%s%s", code, out, errOut)
	}
	// The run records reach the store asynchronously: poll the log.
	for i := 0; ; i++ {
		code, out, errOut = runCLI(cmd("deliveries", "crm")...)
		if code == exitOK && strings.Contains(out, "u1") {
			break
		}
		if i == 2000 { // 20s: a failure bound only
			t.Fatalf("deliveries: exit %d:\n%s%s", code, out, errOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !regexp.MustCompile(`(?m)^\d+\s+\S+Z\s+u1\s+1\s+reject\s+410\s+\S+\s+endpoint disabled \(410 Gone\): HTTP 410: this endpoint is gone$`).MatchString(out) {
		t.Fatalf("deliveries:\n%s", out)
	}
	if code, _, errOut = runCLI(cmd("deliveries", "nope")...); code != exitRejected || !strings.Contains(errOut, `no webhook "nope"`) {
		t.Fatalf("deliveries nope: exit %d: %s", code, errOut)
	}
	if code, out, errOut = runCLI(cmd("enable", "crm")...); code != exitOK || out != "enabled crm\n" {
		t.Fatalf("enable: exit %d:\n%s%s", code, out, errOut)
	}
	if code, out, _ = runCLI(cmd("enable", "crm")...); code != exitOK || out != "crm was not disabled\n" {
		t.Fatalf("enable again: exit %d: %s", code, out)
	}
	if code, out, _ = runCLI(cmd("list")...); code != exitOK || !regexp.MustCompile(`(?m)^crm\s+config\s+active\s`).MatchString(out) {
		t.Fatalf("list after enable: exit %d:\n%s", code, out)
	}
	if code, _, _ = runCLI("webhooks", "enable"); code != exitUsage {
		t.Fatalf("enable without a name: exit %d", code)
	}
}
