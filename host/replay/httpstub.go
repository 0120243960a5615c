package replay

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/wasm"
)

// errShadowHTTP is what a shadow replay's candidate gets from
// http_request: the guest sees error -5 (transient), as for a remote host
// that failed.
var errShadowHTTP = errors.New("replay: shadow replay sends no HTTP request")

// httpStub is the http_request of a shadow replay's candidate: it sends
// nothing, answers every request with errShadowHTTP, and records it for
// the report. A shadow replay must have no effect outside: the candidate
// is untested code run over past events, and a real request would repeat
// their side effects (a charge, a message) once per replay. An error
// rather than a canned answer, because no answer is right for every
// request, and a handler must cope with a failed call anyway.
type httpStub struct {
	mu   sync.Mutex
	reqs []api.ShadowHTTPRequest // of the event being run
}

var _ wasm.HTTPClient = (*httpStub)(nil)

// Do implements wasm.HTTPClient.
func (s *httpStub) Do(_ context.Context, req *wasm.HTTPRequest) (*wasm.HTTPResponse, error) {
	s.mu.Lock()
	s.reqs = append(s.reqs, api.ShadowHTTPRequest{Method: req.Method, URL: redactQuery(req.URL)})
	s.mu.Unlock()
	return nil, fmt.Errorf("%w: %s %s", errShadowHTTP, req.Method, redactQuery(req.URL))
}

// take returns the requests recorded since the last take.
func (s *httpStub) take() []api.ShadowHTTPRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs
	s.reqs = nil
	return r
}

// redactQuery replaces the query string of u, which may hold a secret
// (an API key), with "redacted".
func redactQuery(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable url)"
	}
	if p.RawQuery != "" {
		p.RawQuery = "redacted"
	}
	p.User = nil
	return p.String()
}
