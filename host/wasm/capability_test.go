package wasm_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/evhost/evhost/host/kv"
	"github.com/evhost/evhost/host/wasm"
)

// allowListClient is a real HTTP client with a host allow-list and a
// response cap: the shape of the capability the daemon grants (its
// SSRF-safe dialer is the webhook package's business).
type allowListClient struct {
	allowed map[string]bool
	maxBody int64
}

func (c *allowListClient) Do(ctx context.Context, r *wasm.HTTPRequest) (*wasm.HTTPResponse, error) {
	u, err := url.Parse(r.URL)
	if err != nil || !c.allowed[u.Host] {
		return nil, fmt.Errorf("%w: %s", wasm.ErrNotAllowed, r.URL)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, strings.NewReader(string(r.Body)))
	if err != nil {
		return nil, err
	}
	req.Header = r.Header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > c.maxBody {
		return nil, fmt.Errorf("%w: response over %d bytes", wasm.ErrTooLarge, c.maxBody)
	}
	return &wasm.HTTPResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// http_request end to end: a Go plugin calls an allowed local server and
// gets the status, headers and body; a host off its list gets -3, a
// response over the cap -4, a connection failure -5.
func TestHTTPRequestCapability(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("X-Test"))
		if r.URL.Path == "/big" {
			w.Write([]byte(strings.Repeat("x", 4096)))
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	}))
	defer srv.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	client := &allowListClient{allowed: map[string]bool{host: true, strings.TrimPrefix(downURL, "http://"): true}, maxBody: 1024}

	r := newRuntime(t)
	bin := goPlugin(t, "fetch")
	if _, err := r.Load(context.Background(), bin, wasm.PluginOptions{Name: "fetch"}); err == nil || !strings.Contains(err.Error(), "http_request: not granted") {
		t.Fatalf("http plugin without a grant: %v", err)
	}
	p := load(t, r, bin, wasm.PluginOptions{Name: "fetch", HTTP: client})
	call := func(method, u, body string) wasm.Result {
		return p.Call(context.Background(), testEvent("fetch", fmt.Sprintf(`{"method":%q,"url":%q,"body":%q}`, method, u, body)))
	}
	res := call("POST", srv.URL+"/x", "hello")
	if res.Status != wasm.Done || string(res.Emits[0].Data) != `{"body":"POST hello","echo":"fetch","status":418}` {
		t.Fatalf("allowed request: %+v %s", res, dataOf(res))
	}
	for _, tc := range []struct{ url, code string }{
		{"http://169.254.169.254/latest/meta-data", "code -3"},
		{srv.URL + "/big", "code -4"},
		{downURL + "/", "code -5"},
	} {
		if res := call("GET", tc.url, ""); res.Status != wasm.Reject || res.Reason != tc.code {
			t.Errorf("%s: %+v, want reason %q", tc.url, res, tc.code)
		}
	}
}

func dataOf(r wasm.Result) string {
	if len(r.Emits) == 0 {
		return ""
	}
	return string(r.Emits[0].Data)
}

// failingKV is a store whose backend is down.
type failingKV struct{}

func (failingKV) Get(context.Context, string) ([]byte, error) { return nil, errors.New("backend down") }
func (failingKV) Set(context.Context, string, []byte) error   { return errors.New("backend down") }
func (failingKV) Delete(context.Context, string) error        { return errors.New("backend down") }

var _ kv.Store = failingKV{}

// A failing KV backend is -5 (transient) to the guest, which retries.
func TestKVTransientFailure(t *testing.T) {
	p := load(t, newRuntime(t), goPlugin(t, "kvcount"), wasm.PluginOptions{Name: "kv", KV: failingKV{}})
	res := p.Call(context.Background(), testEvent("count", ""))
	if res.Status != wasm.Retry || !strings.Contains(res.Reason, "transient") {
		t.Fatalf("%+v", res)
	}
}
