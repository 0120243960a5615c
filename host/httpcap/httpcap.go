package httpcap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/evhost/evhost/host/netguard"
	"github.com/evhost/evhost/host/wasm"
)

// Caps of the http_request capability (ABI -4 past them).
const (
	maxHTTPRequestBytes  = 1 << 20
	maxHTTPResponseBytes = 1 << 20
	maxHTTPRedirects     = 5
)

// Cap is the http_request capability of one plugin version: the
// plugin's allowed_hosts, checked on the URL of the request and of every
// redirect before anything is resolved or dialed, then the SSRF guard on
// the addresses dialed. It is safe for concurrent use.
type Cap struct {
	plugin string
	hosts  []hostRule
	client *netguard.Client
}

var _ wasm.HTTPClient = (*Cap)(nil)

// hostRule is one allowed_hosts entry: a host name or IP address, or a
// domain whose subdomains match (wildcard); port 0 matches any port.
type hostRule struct {
	host     string // lower case, no trailing dot; an IP address in its canonical form
	wildcard bool
	port     int
}

// New returns the http_request capability of the plugin named plugin,
// allowed the hosts of allowedHosts (its allowed_hosts entries: a host
// name or IP address, "*.domain" for its subdomains, each with an
// optional port), with calls bounded by timeout (the plugin's call
// deadline; zero means wasm.DefaultTimeout) and dialing only public
// addresses and those of allow.
func New(plugin string, allowedHosts []string, allow []netip.Prefix, timeout time.Duration) (*Cap, error) {
	c := &Cap{plugin: plugin}
	for _, s := range allowedHosts {
		r, err := parseHostRule(s)
		if err != nil {
			return nil, fmt.Errorf("invalid host %q: %w", s, err)
		}
		c.hosts = append(c.hosts, r)
	}
	if timeout <= 0 {
		timeout = wasm.DefaultTimeout
	}
	c.client = netguard.New(netguard.Options{
		Allow:            allow,
		MaxResponseBytes: maxHTTPResponseBytes,
		Timeout:          timeout,
		MaxRedirects:     maxHTTPRedirects,
		CheckURL:         c.checkURL,
	})
	return c, nil
}

func parseHostRule(s string) (hostRule, error) {
	var r hostRule
	host := s
	if hp, port, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return r, fmt.Errorf("bad port %q", port)
		}
		host, r.port = hp, int(n)
	}
	host, r.wildcard = strings.CutPrefix(host, "*.")
	r.host = canonicalHost(host)
	if r.host == "" {
		return r, errors.New("empty host")
	}
	return r, nil
}

// canonicalHost lower-cases a name and drops its trailing dot, and gives an
// IP address (brackets and zone removed) its canonical form.
func canonicalHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if a, err := netip.ParseAddr(h); err == nil {
		return a.WithZone("").Unmap().String()
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// checkURL refuses, with wasm.ErrNotAllowed, a URL that is not http(s) or
// whose host and port are on none of the plugin's allowed_hosts.
func (c *Cap) checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: http_request of plugin %q: scheme %q (want http or https)", wasm.ErrNotAllowed, c.plugin, u.Scheme)
	}
	host := canonicalHost(u.Hostname())
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return fmt.Errorf("%w: http_request of plugin %q: bad port %q", wasm.ErrNotAllowed, c.plugin, p)
		}
		port = int(n)
	}
	for _, r := range c.hosts {
		if r.port != 0 && r.port != port {
			continue
		}
		if r.wildcard && strings.HasSuffix(host, "."+r.host) || !r.wildcard && host == r.host {
			return nil
		}
	}
	return fmt.Errorf("%w: http_request of plugin %q: %s is not on its allowed_hosts", wasm.ErrNotAllowed, c.plugin, net.JoinHostPort(host, strconv.Itoa(port)))
}

// Do performs req through the allow-list and the SSRF guard. A refused
// host or address is wasm.ErrNotAllowed (-3), a request or response over
// its cap wasm.ErrTooLarge (-4); anything else (timeout, DNS, connection)
// is transient (-5).
func (c *Cap) Do(ctx context.Context, req *wasm.HTTPRequest) (*wasm.HTTPResponse, error) {
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: http_request of plugin %q: invalid url: %v", wasm.ErrNotAllowed, c.plugin, err)
	}
	if err := c.checkURL(u); err != nil {
		return nil, err
	}
	if len(req.Body) > maxHTTPRequestBytes {
		return nil, fmt.Errorf("%w: http_request body of %d bytes, over %d", wasm.ErrTooLarge, len(req.Body), maxHTTPRequestBytes)
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(req.Body))
	if err != nil {
		return nil, fmt.Errorf("%w: http_request: %v", wasm.ErrNotAllowed, err)
	}
	for k, vs := range req.Header {
		hreq.Header[k] = append([]string(nil), vs...)
	}
	resp, body, err := c.client.Fetch(hreq)
	switch {
	case err == nil:
	case errors.Is(err, netguard.ErrForbiddenAddress):
		return nil, fmt.Errorf("%w: %w", wasm.ErrNotAllowed, err)
	case errors.Is(err, netguard.ErrTooLarge):
		return nil, fmt.Errorf("%w: %w", wasm.ErrTooLarge, err)
	default:
		return nil, err // ErrNotAllowed from checkURL on a redirect stays as it is
	}
	return &wasm.HTTPResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}
