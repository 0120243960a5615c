package host_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// shapeJS renders the trace tree shown on the page in the format of shape
// (trace_test.go), from the DOM: one line per event, per run (sorted by
// subscription) and per dead letter, children indented.
const shapeJS = `(() => {
  const shape = (li, indent) => {
    let out = indent + li.dataset.eventType + "\n";
    const runs = new Map();
    for (const tr of li.querySelectorAll(":scope > table.runs > tbody > tr.attempt")) {
      const sub = tr.dataset.subscription;
      if (!runs.has(sub)) runs.set(sub, { status: tr.querySelector(".run-status").textContent, attempts: [] });
      const reason = tr.querySelector("td.reason").textContent;
      runs.get(sub).attempts.push(" " + tr.querySelector("td.kind").textContent + "#" +
        tr.querySelector("td.attempt").textContent + "=" + tr.querySelector("td.status").textContent +
        (reason ? "(" + reason + ")" : ""));
    }
    for (const sub of [...runs.keys()].sort()) {
      const r = runs.get(sub);
      out += indent + "  run " + sub + " " + r.status + ":" + r.attempts.join("") + "\n";
    }
    for (const p of li.querySelectorAll(":scope > p.dead-letter")) {
      out += indent + "  dead letter " + p.dataset.subscription + ": " + p.querySelector(".reason").textContent + "\n";
    }
    for (const c of li.querySelectorAll(":scope > ul > li.event")) out += shape(c, indent + "    ");
    return out;
  };
  const root = document.querySelector("#trace > ul > li.event");
  return root ? shape(root, "") : "";
})()`

// subscriptionsJS renders the subscriptions table as subscriptionCounts
// renders GET /v1/status.
const subscriptionsJS = `[...document.querySelectorAll("#subscriptions tbody tr[data-name]")].map((tr) => {
  const c = [...tr.cells].map((td) => td.textContent);
  return c[0] + " " + c[1] + " " + c[2].replaceAll(", ", ",") + " " + c[4] + "/" + c[5] + "/" + c[6] + "\n";
}).join("")`

// rowsJS returns the text of the rows of the table id, cells joined by |.
func rowsJS(id string) string {
	return `[...document.querySelectorAll("#` + id + ` tbody tr")].map((tr) => [...tr.cells].map((td) => td.textContent).join("|"))`
}

// The status page in headless Chromium, used as a user would: it asks for
// the token, shows the subscriptions with their counts, the plugin with
// its last error, the recent runs and the dead letters; clicking an event
// id shows its trace tree; the search box finds another; and the hostile
// event type, id and reason are shown as text, never run.
func TestStatusPageInChromium(t *testing.T) {
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
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-networking", true),
	)
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// poll waits until the expression is true in the page.
	poll := func(what, expr string) {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	evalString := func(what, expr string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return s
	}
	evalRows := func(what, id string) []string {
		t.Helper()
		rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](rowsJS(id)))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return rows
	}

	// The daemon has a token: the page asks for it.
	run("load the page and enter the token",
		chromedp.Navigate(base+"/"), // redirects to /status/
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), statusToken),
		chromedp.Click(chromedp.CSS("#token-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`#subscriptions tbody tr[data-name="audit"]`)),
	)
	want, _ := json.Marshal(wantStatusCounts)
	poll("the subscription counts", subscriptionsJS+" === "+string(want))

	hostText := evalString("the host line", `document.getElementById("host").textContent`)
	if !strings.Contains(hostText, "broker embedded") {
		t.Errorf("host line %q lacks the broker", hostText)
	}

	rows := evalRows("the plugins", "plugins")
	if len(rows) != 1 || !strings.HasPrefix(rows[0], "payment|") || !strings.Contains(rows[0], "order-2 attempt 1 reject: card declined") {
		t.Errorf("plugin rows: %q, want payment with its last failure on order-2", rows)
	}
	p := h.Plugins()[0]
	// Name, kind, version, loaded, instances, calls (order-1 and order-2), last error.
	if cells := strings.Split(rows[0], "|"); len(cells) != 7 || cells[2] != p.Version[:12] || cells[5] != "2" {
		t.Errorf("plugin row %q: want the version %.12s and 2 calls", rows[0], p.Version)
	}
	// The compiled modules in memory, under the default budget, and the
	// linear memory kept for new instances, under the default reserve.
	if w := evalString("the wasm line", `document.getElementById("wasm").textContent`); !strings.HasPrefix(w, "Compiled modules in memory: 1 (") ||
		!strings.Contains(w, " of 256.0 MiB) · evicted 0 · compiled again 0 · idle instances closed 0") ||
		!strings.HasSuffix(w, " · linear memory kept for new instances 0.0 MiB of 32.0 MiB") {
		t.Errorf("wasm line %q", w)
	}

	// The recent runs and the dead letters show the hostile values as text.
	poll("the recent runs", `document.querySelectorAll("#recent tbody tr").length === 6`)
	rows = evalRows("the recent runs", "recent")
	if !strings.Contains(strings.Join(rows, "\n"), "|"+hostileID+"|"+hostileType+"|audit|1|reject|") {
		t.Errorf("recent runs lack the hostile event as text:\n%s", strings.Join(rows, "\n"))
	}
	poll("the dead letters", `document.querySelectorAll("#dead-letters tbody tr[data-id]").length === 2`)
	rows = evalRows("the dead letters", "dead-letters")
	dl := strings.Join(rows, "\n")
	for _, want := range []string{
		"|payment|order-2|order.placed|1|rejected: card declined",
		"|audit|" + hostileID + "|" + hostileType + "|1|rejected: " + hostileReason,
	} {
		if !strings.Contains(dl, want) {
			t.Errorf("dead letters lack %q:\n%s", want, dl)
		}
	}
	count := evalString("the dead-letter count", `document.getElementById("dlq-count").textContent`)
	if !strings.HasPrefix(count, "2 event(s) dead-lettered") {
		t.Errorf("dead-letter count %q", count)
	}

	// Clicking an event id shows its trace tree.
	run("click order-1", chromedp.Click(chromedp.CSS(`#recent button[data-event-id="order-1"]`)))
	poll("the trace of order-1", `document.querySelector("#trace > ul")?.dataset.root === "order-1"`)
	tree := evalString("the trace tree", shapeJS)
	if tree != wantOrderTree {
		t.Errorf("trace tree shown:\n%s\nwant:\n%s", tree, wantOrderTree)
	}

	// The search box finds the hostile event, from its id typed in.
	// Select what the box holds (the id clicked), so that typing replaces it.
	evalString("select the search box", `document.getElementById("trace-id").select(), ""`)
	run("search the hostile event",
		chromedp.SendKeys(chromedp.ID("trace-id"), hostileID),
		chromedp.Click(chromedp.CSS("#trace-form button[type=submit]")),
	)
	idJSON, _ := json.Marshal(hostileID)
	poll("the trace of the hostile event", `document.querySelector("#trace > ul")?.dataset.root === `+string(idJSON))
	tree = evalString("the trace tree", shapeJS)
	wantTree := hostileType + "\n" +
		"  run audit reject: delivery#1=reject(" + hostileReason + ")\n" +
		"  dead letter audit: " + hostileReason + "\n"
	if tree != wantTree {
		t.Errorf("hostile trace tree shown:\n%s\nwant:\n%s", tree, wantTree)
	}

	// Nothing the events carried became markup, nor ran.
	injected := evalString("look for injected markup", `JSON.stringify({
		img: document.querySelectorAll("img").length,
		b: document.querySelectorAll("b").length,
		script: document.querySelectorAll("script").length,
		pwned: window.pwned === undefined ? null : window.pwned,
	})`)
	if injected != `{"img":0,"b":0,"script":1,"pwned":null}` {
		t.Errorf("injected markup in the page: %s", injected)
	}
}
