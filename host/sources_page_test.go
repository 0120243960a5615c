package host_test

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The status page shows each source with what it produced and refused, by
// reason, and its last error.
func TestStatusPageShowsSources(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("install Debian chromium: apt-get install chromium")
	}
	_, s, base := hookDaemon(t, hookSources)
	body := `{"type":"invoice.paid"}`
	if status, _, text := hookPost(t, base, "billing", swHeaders(t, "msg_page", time.Now(), body), body); status != http.StatusAccepted {
		t.Fatalf("%d %s", status, text)
	}
	s.waitID(t, "msg_page")
	if status, _, _ := hookPost(t, base, "billing", http.Header{}, body); status != http.StatusUnauthorized {
		t.Fatalf("unsigned: %d", status)
	}

	alloc, cancel := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chromium), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-dev-shm-usage", true))
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/status/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), srcToken),
		chromedp.Click(chromedp.CSS("#token-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`#sources tbody tr[data-name="billing"]`)),
	); err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](rowsJS("sources")))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("source rows: %q", rows)
	}
	// Name, kind, where, running, produced, duplicates, refused, last error.
	cells := strings.Split(rows[0], "|")
	if len(cells) != 8 || cells[0] != "billing" || cells[1] != "webhook" || cells[2] != "/v1/hooks/billing" ||
		cells[3] != "yes" || cells[4] != "1" || cells[5] != "0" || cells[6] != "signature 1" || !strings.Contains(cells[7], "missing signature") {
		t.Errorf("billing row %q", rows[0])
	}
	if !strings.HasPrefix(rows[1], "gh|webhook|/v1/hooks/github/acme|yes|0|0|") {
		t.Errorf("gh row %q", rows[1])
	}
}
