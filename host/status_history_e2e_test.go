package host_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/evhost/evhost/host/api"
)

// chartJS describes the chart of the page whose data-chart is id: the
// points its <svg> drew, the points of each series' path and dots, and
// whether some point of it is above the zero axis.
func chartJS(id string) string {
	return `(() => {
  const svg = document.querySelector('svg[data-chart="` + id + `"]');
  if (!svg) return null;
  const axis = Number(svg.querySelector("line.axis").getAttribute("y1"));
  const series = {};
  let above = false;
  for (const p of svg.querySelectorAll("path.series")) {
    series[p.dataset.series] = Number(p.dataset.points);
    for (const m of p.getAttribute("d").matchAll(/[ML]([\d.]+) ([\d.]+)/g)) above = above || Number(m[2]) < axis - 0.5;
  }
  for (const c of svg.querySelectorAll("circle.dot")) {
    series[c.dataset.series] = (series[c.dataset.series] || 0) + 1;
    above = above || Number(c.getAttribute("cy")) < axis - 0.5;
  }
  return { points: Number(svg.dataset.points), series, above };
})()`
}

type chartInfo struct {
	Points int            `json:"points"`
	Series map[string]int `json:"series"`
	Above  bool           `json:"above"`
}

// The status page's charts of the last hour in headless Chromium: events
// per second (ingested, handled, failed), pending per subscription and the
// latency (p50, p99) of each subscription that ran are drawn by the page
// from GET /v1/status/history, with points where the daemon had data; a
// screenshot goes to the test's artifact directory (kept with
// go test -artifacts -outputdir DIR).
func TestStatusHistoryChartsInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("install Debian chromium: apt-get install chromium")
	}
	h, base := startStatusHost(t)
	publishStatusWorkload(t, h)
	waitStatus(t, base)

	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-networking", true),
	)
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/status/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), statusToken),
		chromedp.Click(chromedp.CSS("#token-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`svg[data-chart="rates"]`)),
	); err != nil {
		t.Fatalf("load the page and enter the token: %v", err)
	}
	// The first sample comes 10 s after the daemon started; until then
	// each series has the one point of the time since.
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(() => {
  const r = document.querySelector('svg[data-chart="rates"] path.series[data-series="handled"]');
  return !!r && Number(r.dataset.points) >= 2 && !!document.querySelector('svg[data-chart="latency-payment"]');
})()`, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second)))
	if err != nil {
		t.Fatalf("the rates chart never had two points: %v", err)
	}

	get := func(id string) chartInfo {
		t.Helper()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](chartJS(id)))
		if err != nil {
			t.Fatalf("chart %s: %v", id, err)
		}
		var c chartInfo
		if string(raw) == "null" || json.Unmarshal(raw, &c) != nil {
			t.Fatalf("no chart %s on the page (%s)", id, raw)
		}
		return c
	}
	rates := get("rates")
	for _, s := range []string{"ingested", "handled", "failed"} {
		if rates.Series[s] < 2 {
			t.Errorf("rates chart: series %s has %d points, want 2 or more (%+v)", s, rates.Series[s], rates)
		}
	}
	if !rates.Above {
		t.Errorf("rates chart: every point is at zero, but events were handled: %+v", rates)
	}
	pending := get("pending")
	for _, s := range []string{"payment", "email", "inventory", "audit"} {
		if pending.Series[s] < 2 {
			t.Errorf("pending chart: subscription %s has %d points, want 2 or more (%+v)", s, pending.Series[s], pending)
		}
	}
	for _, sub := range []string{"payment", "email", "inventory", "audit"} {
		c := get("latency-" + sub)
		if c.Series["p50"] < 1 || c.Series["p99"] < 1 || !c.Above {
			t.Errorf("latency chart of %s: %+v, want p50 and p99 points above zero", sub, c)
		}
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#history svg.chart").length`))
	if err != nil || n != 6 {
		t.Errorf("%d charts on the page (%v), want 6: rates, pending and 4 latencies", n, err)
	}

	// The page drew what the API says: the history has a point with
	// events handled and the latency of payment.
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/status/history", nil)
	req.Header.Set("Authorization", "Bearer "+statusToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var hist api.StatusHistory
	err = json.NewDecoder(resp.Body).Decode(&hist)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	handled, latency := false, false
	for i := range hist.Times {
		handled = handled || hist.Handled[i] > 0
	}
	for _, s := range hist.Subscriptions {
		for _, v := range s.P99 {
			latency = latency || s.Name == "payment" && v != nil && *v > 0
		}
	}
	if !handled || !latency {
		t.Errorf("GET /v1/status/history: handled %v, payment latency %v; want both: %+v", handled, latency, hist)
	}

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.ArtifactDir(), "status-history.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
	if !strings.HasPrefix(string(shot), "\x89PNG") {
		t.Errorf("the screenshot is not an image")
	}
}
