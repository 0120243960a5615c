package host_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/replay"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// httpCallerWAT is a reactor that, for every event, calls http_request
// (a POST to url) and returns 0 whatever the answer.
func httpCallerWAT(t *testing.T, url string) []byte {
	t.Helper()
	var req []byte
	req = event.AppendAttr(req, "method", "POST")
	req = event.AppendAttr(req, "url", url)
	req = append(req, 0)
	req = append(req, "charge the card"...)
	var esc strings.Builder
	for _, c := range req {
		fmt.Fprintf(&esc, "\\%02x", c)
	}
	return wasmbuild.WAT(t, fmt.Sprintf(`(module
  (import "evhost" "http_request" (func $http (param i32 i32) (result i64)))
  (memory (export "memory") 2)
  (data (i32.const 16) "%s")
  (func (export "evhost_abi_version") (result i32) (i32.const 1))
  (func (export "evhost_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "evhost_handle") (param i32 i32) (result i32)
    (drop (call $http (i32.const 16) (i32.const %d)))
    (i32.const 0)))`, esc.String(), len(req)))
}

// A shadow replay's candidate sends no HTTP request: its http_request is a
// stub that answers with an error, and the report lists each call (the
// query string redacted). The live plugin may call the same server.
func TestShadowReplaySendsNoHTTP(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	dir := t.TempDir()
	live := wasmbuild.WATFile(t, "wasm/testdata/httpimport.wat") // imports http_request, never calls it
	if err := os.WriteFile(filepath.Join(dir, "live.wasm"), live, 0o644); err != nil {
		t.Fatal(err)
	}
	counter := newHandledCounter()
	h := newHost(t, dir, fmt.Sprintf(`allow_networks = ["127.0.0.0/8"]
[plugins.pay]
path = "live.wasm"
events = ["order.paid"]
allowed_hosts = [%q]
`, strings.TrimPrefix(srv.URL, "http://")), counter)
	const n = 3
	for i := 0; i < n; i++ {
		if _, err := h.Publish(context.Background(), &event.Event{Type: "order.paid"}); err != nil {
			t.Fatal(err)
		}
	}
	counter.wait(t, "pay", n)

	candidate := httpCallerWAT(t, srv.URL+"/charge?api_key=s3cret")
	rep, err := h.Replay(context.Background(), replay.Options{Subscription: "pay", Candidate: candidate})
	if err != nil {
		t.Fatal(err)
	}
	if got := hits.Load(); got != 0 {
		t.Fatalf("the test server received %d requests from a shadow replay", got)
	}
	if rep.Events != n || rep.Done != n || rep.HTTPStubbed != n || len(rep.HTTP) != n {
		t.Fatalf("report: %d events, %d done, %d stubbed, %+v", rep.Events, rep.Done, rep.HTTPStubbed, rep.HTTP)
	}
	if q := rep.HTTP[0]; q.Method != "POST" || q.URL != srv.URL+"/charge?redacted" || q.EventID == "" || q.Seq == 0 {
		t.Fatalf("recorded request %+v", q)
	}
}
