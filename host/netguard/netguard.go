package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

// Errors of the guard. A refused address is a *ForbiddenError, which
// matches ErrForbiddenAddress with errors.Is.
var (
	// ErrForbiddenAddress: the destination resolves to an address of a
	// forbidden class that no prefix of Options.Allow contains.
	ErrForbiddenAddress = errors.New("netguard: forbidden address")
	// ErrTooLarge: the response body is over Options.MaxResponseBytes.
	ErrTooLarge = errors.New("netguard: response body too large")
	// ErrTooManyRedirects: a request was redirected more than
	// Options.MaxRedirects times.
	ErrTooManyRedirects = errors.New("netguard: too many redirects")
)

// ForbiddenError names the address refused, its class, and the host it was
// resolved from (the address itself for an IP literal).
type ForbiddenError struct {
	Host  string
	Addr  netip.Addr
	Class Class
}

func (e *ForbiddenError) Error() string {
	if e.Host == "" || e.Host == e.Addr.String() {
		return fmt.Sprintf("netguard: forbidden address %s (%s)", e.Addr, e.Class)
	}
	return fmt.Sprintf("netguard: forbidden address %s (%s) for host %q", e.Addr, e.Class, e.Host)
}

// Unwrap returns ErrForbiddenAddress.
func (e *ForbiddenError) Unwrap() error { return ErrForbiddenAddress }

// Resolver resolves host names; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Defaults of Options.
const (
	DefaultMaxResponseBytes = 1 << 20
	DefaultTimeout          = 10 * time.Second
	DefaultMaxRedirects     = 5
)

// Options configures a Client. Zero values take the defaults.
type Options struct {
	// Allow lists prefixes dialed although their addresses are of a
	// forbidden class (tests allow 127.0.0.0/8 this way).
	Allow []netip.Prefix
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
	// Dialer opens connections to the checked "ip:port" addresses; nil
	// means a net.Dialer.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxResponseBytes caps a response body (DefaultMaxResponseBytes when
	// zero or less); reading past it fails with ErrTooLarge.
	MaxResponseBytes int64
	// Timeout bounds a request from dial to the end of its body
	// (DefaultTimeout when zero or less). The request's context may end it
	// sooner.
	Timeout time.Duration
	// MaxRedirects caps the redirects followed (DefaultMaxRedirects when
	// zero); a negative value follows none and returns the redirect
	// response itself.
	MaxRedirects int
	// CheckURL, when non-nil, is asked about the URL of the request and of
	// every redirect before anything is resolved or dialed for it; an error
	// refuses the request and is returned wrapped.
	CheckURL func(u *url.URL) error
}

// Client sends HTTP requests through the guard. It is safe for concurrent
// use; its connections are pooled, each one dialed through the guard.
type Client struct {
	opts Options
	hc   *http.Client
}

// New returns a Client with opts.
func New(opts Options) *Client {
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Dialer == nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		opts.Dialer = d.DialContext
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxRedirects == 0 {
		opts.MaxRedirects = DefaultMaxRedirects
	}
	opts.Allow = append([]netip.Prefix(nil), opts.Allow...)
	c := &Client{opts: opts}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the guard
		DialContext:           c.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
	c.hc = &http.Client{Transport: tr, Timeout: opts.Timeout, CheckRedirect: c.checkRedirect}
	return c
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if c.opts.MaxRedirects < 0 {
		return http.ErrUseLastResponse
	}
	if len(via) > c.opts.MaxRedirects {
		return fmt.Errorf("%w (%d)", ErrTooManyRedirects, c.opts.MaxRedirects)
	}
	if c.opts.CheckURL != nil {
		return c.opts.CheckURL(req.URL)
	}
	return nil
}

// Check returns a *ForbiddenError for an address of a forbidden class that
// no prefix of Options.Allow contains, and nil for one that may be dialed.
func (c *Client) Check(a netip.Addr) error {
	a = a.WithZone("")
	for _, p := range c.opts.Allow {
		if p.Contains(a) || p.Contains(a.Unmap()) {
			return nil
		}
	}
	if class, bad := Classify(a); bad {
		return &ForbiddenError{Addr: a, Class: class}
	}
	return nil
}

// DialContext resolves the host of addr ("host:port"), checks every address
// it resolves to, and dials a checked one: the address dialed is the
// address checked (an IPv4-mapped one as plain IPv4). A host with any
// forbidden address is refused whole.
func (c *Client) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("netguard: %w", err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("netguard: invalid port %q", portStr)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		lookup := "ip"
		switch network {
		case "tcp4":
			lookup = "ip4"
		case "tcp6":
			lookup = "ip6"
		}
		ips, err = c.opts.Resolver.LookupNetIP(ctx, lookup, host)
		if err != nil {
			return nil, fmt.Errorf("netguard: resolve %s: %w", host, err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("netguard: resolve %s: no addresses", host)
		}
	}
	for _, ip := range ips {
		if err := c.Check(ip); err != nil {
			err.(*ForbiddenError).Host = host
			return nil, err
		}
	}
	var errs []error
	for _, ip := range ips {
		conn, err := c.opts.Dialer(ctx, network, netip.AddrPortFrom(ip.WithZone("").Unmap(), uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("netguard: dial %s: %w", addr, errors.Join(errs...))
}

// Do sends req, following redirects through the guard. The response body
// is capped: a body whose Content-Length is over the cap is refused here,
// and reading past the cap fails with an error wrapping ErrTooLarge. The
// caller closes the body.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if c.opts.CheckURL != nil {
		if err := c.opts.CheckURL(req.URL); err != nil {
			return nil, err
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	max := c.opts.MaxResponseBytes
	if resp.ContentLength > max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %d bytes, over %d", ErrTooLarge, resp.ContentLength, max)
	}
	resp.Body = &cappedBody{rc: resp.Body, left: max, max: max}
	return resp, nil
}

// Fetch sends req and reads the whole response body (capped).
func (c *Client) Fetch(req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	return resp, body, nil
}

// cappedBody fails with ErrTooLarge once more than max bytes are read.
type cappedBody struct {
	rc        io.ReadCloser
	left, max int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, fmt.Errorf("%w: over %d bytes", ErrTooLarge, b.max)
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		n += int(b.left) // drop the byte past the cap
		return n, fmt.Errorf("%w: over %d bytes", ErrTooLarge, b.max)
	}
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }
