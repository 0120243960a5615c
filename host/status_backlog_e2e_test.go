package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
)

// The status page, in headless Chromium, shows the age of a paused
// subscription's oldest pending event and warns that events are about to
// be lost once the journal, which drops its oldest events past [broker]
// max_bytes, is 90% full of that subscription's backlog.
func TestStatusPageRetentionWarningInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("install Debian chromium: apt-get install chromium")
	}
	const maxBytes = 64 << 10
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "config.toml"), []byte(fmt.Sprintf(`[host]
data_dir = "data"
token = %q
allow_networks = ["127.0.0.0/8"]
[broker]
kind = "embedded"
max_bytes = "64KiB"
[[webhooks]]
name = "hook"
events = ["big"]
url = "http://127.0.0.1:1/"
secret = %q
paused = true
`, statusToken, hookSecret)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := host.New(ctx, cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	for h.Addr() == "" { // Serve starts the host, then serves
		time.Sleep(5 * time.Millisecond)
	}
	data := json.RawMessage(`"` + strings.Repeat("x", 1000) + `"`)
	pub := func() {
		t.Helper()
		if _, err := h.Publish(ctx, &event.Event{Type: "big", Source: "test", DataContentType: "application/json", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	pub()
	var one *bus.Backlog
	for deadline := time.Now().Add(20 * time.Second); one == nil || one.Journal.Msgs != 1; time.Sleep(50 * time.Millisecond) {
		if one, err = h.Bus().(bus.Backlogs).Backlog(ctx); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report of the first event: %+v", one.Journal)
		}
	}
	for range int(0.9*maxBytes/float64(one.Journal.Bytes)) - 1 { // 90% full: none dropped yet
		pub()
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-networking", true),
	)
	defer cancelAlloc()
	bctx, cancelB := chromedp.NewContext(alloc)
	defer cancelB()
	bctx, cancelB = context.WithTimeout(bctx, 60*time.Second)
	defer cancelB()
	if err := chromedp.Do(bctx,
		chromedp.Navigate("http://"+ln.Addr().String()+"/status/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), statusToken),
		chromedp.Click(chromedp.CSS("#token-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`#subscriptions tbody tr[data-name="hook"]`)),
	); err != nil {
		t.Fatal(err)
	}
	// The page refreshes itself; the report the daemon reuses for 2s
	// catches up with the last events.
	const warned = `!!document.querySelector('#subscriptions tr[data-name="hook"] .retention-warning')`
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](warned,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("no retention warning on the page: %v", err)
	}
	text, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#subscriptions tr[data-name="hook"]').cells[3].textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "(paused), oldest ") || !strings.Contains(text, "Events about to be lost: the journal holds") {
		t.Fatalf("pending cell: %q", text)
	}
}
