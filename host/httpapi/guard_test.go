package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/evhost/evhost/host/httpapi"
)

// deniedLog records what Options.Denied is told.
type deniedLog struct {
	mu  sync.Mutex
	got []string // "token/reason"
}

func (d *deniedLog) denied(token, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, token+"/"+reason)
}

func (d *deniedLog) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.got)
}

// A web page of another site cannot make the browser post events or call
// the admin API, with no token configured (the default): the simple
// requests a page may send without a CORS preflight (text/plain, a form)
// are refused with a 403, whether the browser sends Sec-Fetch-Site (every
// current one) or only Origin (older ones). Same-origin pages and
// non-browser clients are not affected.
func TestCrossSiteRequestsRefused(t *testing.T) {
	var denied deniedLog
	var refusedMu sync.Mutex
	var refused []int
	h := newHarness(t, httpapi.Options{Denied: denied.denied, Refused: func(status int) {
		refusedMu.Lock()
		refused = append(refused, status)
		refusedMu.Unlock()
	}}, 0)
	reached := 0
	h2url := newServerFor(t, func() http.Handler {
		s := httpapi.New(httpapi.Options{Publisher: &fakePublisher{}})
		s.Handle("POST /v1/admin/reload", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached++
			httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
		}))
		return s
	}())

	browser := [][]string{
		{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors", "Content-Type", "text/plain"},
		{"Origin", "http://evil.example", "Content-Type", "text/plain"}, // a browser without Sec-Fetch-*
		{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site", "Content-Type", "application/x-www-form-urlencoded"},
		{"Origin", "null", "Sec-Fetch-Site", "cross-site", "Content-Type", "text/plain"}, // a sandboxed iframe
		{"Sec-Fetch-Site", "same-site", "Origin", "http://other.localhost:3000", "Content-Type", "text/plain"},
	}
	for _, hdr := range browser {
		res := post(t, h.url+"/v1/events/order.placed", `{"id":1}`, hdr...)
		e := res.errorBody(t, http.StatusForbidden)
		if e.Field != "Origin" || !strings.Contains(e.Error, "cross-site") {
			t.Errorf("%v: %+v", hdr, e)
		}
		post(t, h2url+"/v1/admin/reload", ``, hdr...).errorBody(t, http.StatusForbidden)
	}
	h.empty(t)
	if reached != 0 {
		t.Errorf("the admin handler ran %d times", reached)
	}

	// The daemon's own pages, and programs, still get through.
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "same-origin", "Origin", h.url, "Content-Type", "application/json"},
		{"Origin", h.url, "Content-Type", "application/json"},
		{"Sec-Fetch-Site", "none"}, // typed in the address bar
		{"Content-Type", "application/json"},
	} {
		post(t, h.url+"/v1/events/order.placed", `{"id":1}`, hdr...).accepted(t)
		h.next(t)
	}
	// Reading is safe: a cross-site GET gets an answer the page cannot read.
	if res := do(t, http.MethodGet, h.url+"/healthz", nil, "Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"); res.status != http.StatusOK {
		t.Errorf("cross-site GET /healthz: %d", res.status)
	}
	if got := denied.list(); len(got) != len(browser) || got[0] != "/cross_origin" {
		t.Errorf("denied %v", got)
	}
	refusedMu.Lock()
	defer refusedMu.Unlock()
	if len(refused) != len(browser) || refused[0] != http.StatusForbidden {
		t.Errorf("refused %v", refused)
	}
}

// An origin the operator trusts may post.
func TestTrustedOrigin(t *testing.T) {
	h := newHarness(t, httpapi.Options{TrustedOrigins: []string{"https://ops.example.com"}}, 0)
	post(t, h.url+"/v1/events/a", `{}`, "Origin", "https://ops.example.com", "Sec-Fetch-Site", "cross-site").accepted(t)
	h.next(t)
	post(t, h.url+"/v1/events/a", `{}`, "Origin", "https://evil.example.com", "Sec-Fetch-Site", "cross-site").errorBody(t, http.StatusForbidden)
}

// DNS rebinding: a page of attacker.example whose name then resolves to
// 127.0.0.1 makes same-origin requests to the daemon, with Host
// attacker.example. The daemon answers only to its addresses, localhost
// and the names it is told.
func TestHostCheck(t *testing.T) {
	var denied deniedLog
	h := newHarness(t, httpapi.Options{Hostnames: []string{"evhost.internal", "*.evhost.example"}, Denied: denied.denied}, 0)
	for _, host := range []string{"attacker.example", "attacker.example:8080", "evhost.internal.attacker.example", "evhost.example", "localhost.attacker.example"} {
		res := do(t, http.MethodGet, h.url+"/v1/status", nil, "Host", host)
		e := res.errorBody(t, http.StatusForbidden)
		if e.Field != "Host" || !strings.Contains(e.Error, host) {
			t.Errorf("Host %q: %+v", host, e)
		}
		post(t, h.url+"/v1/events/a", `{}`, "Host", host, "Sec-Fetch-Site", "same-origin").errorBody(t, http.StatusForbidden)
		do(t, http.MethodGet, h.url+"/readyz", nil, "Host", host).errorBody(t, http.StatusForbidden)
	}
	h.empty(t)
	for _, host := range []string{"127.0.0.1:1", "[::1]:8080", "10.1.2.3", "localhost", "LOCALHOST:8080", "app.localhost",
		"evhost.internal", "EVHOST.INTERNAL.:443", "a.evhost.example"} {
		post(t, h.url+"/v1/events/a", `{}`, "Host", host).accepted(t)
		h.next(t)
	}
	if got := denied.list(); len(got) != 15 || got[0] != "/host" {
		t.Errorf("denied %v", got)
	}

	any := newHarness(t, httpapi.Options{Hostnames: []string{"*"}}, 0)
	post(t, any.url+"/v1/events/a", `{}`, "Host", "whatever.example").accepted(t)
}
