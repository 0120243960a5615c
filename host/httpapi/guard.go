package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// The guard runs before routing, on every request, public routes and
// health included: a request whose Host the daemon does not answer to
// (DNS rebinding), or that a browser sent on behalf of another site
// (cross-site request forgery), gets a 403 before any handler sees it.

// hostGuard decides which Host headers the server answers to.
type hostGuard struct {
	any      bool            // "*" was listed: no check
	names    map[string]bool // exact names, lower case, no trailing dot
	suffixes []string        // ".example.com" for "*.example.com"
}

func newHostGuard(names []string) *hostGuard {
	g := &hostGuard{names: map[string]bool{}}
	for _, n := range names {
		n = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
		switch {
		case n == "*":
			g.any = true
		case strings.HasPrefix(n, "*."):
			g.suffixes = append(g.suffixes, n[1:])
		case n != "":
			g.names[n] = true
		}
	}
	return g
}

// allowed reports whether the server answers to the Host header host. An
// IP literal always passes: a page that reached the daemon by its address
// has that address as its origin, and no DNS answer can rebind it. So do
// localhost and names under .localhost, which browsers resolve to loopback
// themselves, and the names of Options.Hostnames.
func (g *hostGuard) allowed(host string) bool {
	if g.any || host == "" { // HTTP/1.0 without Host: no browser sends that
		return true
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.ToLower(strings.Trim(name, "[]")), ".")
	if _, err := netip.ParseAddr(name); err == nil {
		return true
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") || g.names[name] {
		return true
	}
	for _, s := range g.suffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// newCrossOrigin returns the cross-origin protection of the server, with
// the origins the operator trusts, or an error naming a malformed one.
func newCrossOrigin(trusted []string) (*http.CrossOriginProtection, error) {
	c := http.NewCrossOriginProtection()
	for _, o := range trusted {
		if err := c.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("httpapi: trusted origin %q: %w", o, err)
		}
	}
	return c, nil
}

// guard refuses a request for an unknown Host or from another site, and
// reports whether it did.
func (s *Server) guard(w http.ResponseWriter, r *http.Request) bool {
	if !s.hosts.allowed(r.Host) {
		s.forbidden(w, r, "host", &ErrorResponse{Field: "Host",
			Error: "this server does not answer to Host " + strconv.Quote(r.Host) +
				": use its address, localhost, or a name listed in [host] hostnames"})
		return true
	}
	if err := s.cop.Check(r); err != nil {
		s.forbidden(w, r, "cross_origin", &ErrorResponse{Field: "Origin",
			Error: "cross-site request refused: a web page of another origin may not send requests to this API " +
				"(Sec-Fetch-Site " + strconv.Quote(r.Header.Get("Sec-Fetch-Site")) + ", Origin " +
				strconv.Quote(r.Header.Get("Origin")) + "); list the origin in [host] trusted_origins to allow it"})
		return true
	}
	return false
}

// forbidden renders a 403 for reason ("host", "cross_origin", "scope",
// "event_type") and tells Options.Denied.
func (s *Server) forbidden(w http.ResponseWriter, r *http.Request, reason string, resp *ErrorResponse) {
	s.denied(r, "", reason)
	if isIngest(r) {
		s.refused(http.StatusForbidden)
	}
	WriteError(w, http.StatusForbidden, resp)
}

// isIngest reports whether r is a request to an ingest route.
func isIngest(r *http.Request) bool {
	return r.Method == http.MethodPost && (r.URL.Path == "/v1/events" || strings.HasPrefix(r.URL.Path, "/v1/events/"))
}
