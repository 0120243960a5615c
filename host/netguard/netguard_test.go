package netguard_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/netguard"
)

var loopback = netip.MustParsePrefix("127.0.0.0/8")

// fakeResolver answers every name from its map.
type fakeResolver map[string][]netip.Addr

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// guardedDialer dials for real only inside 127.0.0.0/8 (the test's own
// servers) and fails the test for anything else: the guard must never let a
// forbidden address reach the dialer.
func guardedDialer(t *testing.T) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			t.Errorf("dialer called with %q, not a checked ip:port", addr)
			return nil, err
		}
		if !loopback.Contains(ap.Addr()) {
			t.Errorf("dialer called with %s, which the guard should have refused", addr)
			return nil, errors.New("test dialer: refused")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// forbidden lists an address of every forbidden class, and forms of IPv6
// that embed a forbidden IPv4 address.
var forbidden = []struct {
	addr  string
	class netguard.Class
}{
	{"127.0.0.1", netguard.ClassLoopback},
	{"127.255.0.9", netguard.ClassLoopback},
	{"::1", netguard.ClassLoopback},
	{"10.1.2.3", netguard.ClassPrivate},
	{"172.16.0.1", netguard.ClassPrivate},
	{"172.31.255.254", netguard.ClassPrivate},
	{"192.168.1.1", netguard.ClassPrivate},
	{"fc00::1", netguard.ClassPrivate},
	{"fd12:3456::1", netguard.ClassPrivate},
	{"169.254.1.1", netguard.ClassLinkLocal},
	{"fe80::1", netguard.ClassLinkLocal},
	{"169.254.169.254", netguard.ClassMetadata},
	{"fd00:ec2::254", netguard.ClassMetadata},
	{"100.100.100.200", netguard.ClassMetadata},
	{"100.64.0.1", netguard.ClassCGNAT},
	{"100.127.255.254", netguard.ClassCGNAT},
	{"0.0.0.0", netguard.ClassUnspecified},
	{"::", netguard.ClassUnspecified},
	{"224.0.0.1", netguard.ClassMulticast},
	{"ff02::1", netguard.ClassMulticast},
	{"255.255.255.255", netguard.ClassBroadcast},
	{"192.0.2.1", netguard.ClassDoc},
	{"2001:db8::1", netguard.ClassDoc},
	{"240.0.0.1", netguard.ClassReserved},
	{"::ffff:127.0.0.1", netguard.ClassLoopback},
	{"::ffff:169.254.169.254", netguard.ClassMetadata},
	{"::ffff:10.0.0.1", netguard.ClassPrivate},
	{"::127.0.0.1", netguard.ClassLoopback},         // IPv4-compatible
	{"::ffff:0:127.0.0.1", netguard.ClassLoopback},  // IPv4-translated
	{"64:ff9b::7f00:1", netguard.ClassLoopback},     // NAT64 of 127.0.0.1
	{"64:ff9b::a9fe:a9fe", netguard.ClassMetadata},  // NAT64 of 169.254.169.254
	{"2002:7f00:1::1", netguard.ClassLoopback},      // 6to4 of 127.0.0.1
	{"2002:c0a8:101::1", netguard.ClassPrivate},     // 6to4 of 192.168.1.1
	{"2001:0:4136:e378::1", netguard.ClassReserved}, // Teredo
}

func TestClassify(t *testing.T) {
	for _, tc := range forbidden {
		c, bad := netguard.Classify(netip.MustParseAddr(tc.addr))
		if !bad || c != tc.class {
			t.Errorf("Classify(%s) = %q, %v; want %q, true", tc.addr, c, bad, tc.class)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "172.32.0.1", "100.128.0.1"} {
		if c, bad := netguard.Classify(netip.MustParseAddr(s)); bad {
			t.Errorf("Classify(%s) = %q, true; want allowed", s, c)
		}
	}
}

func newClient(t *testing.T, opts netguard.Options) *netguard.Client {
	t.Helper()
	if opts.Dialer == nil {
		opts.Dialer = guardedDialer(t)
	}
	if opts.Resolver == nil {
		opts.Resolver = fakeResolver{}
	}
	return netguard.New(opts)
}

func get(t *testing.T, c *netguard.Client, u string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Fetch(req)
}

func wantForbidden(t *testing.T, err error, addr string, class netguard.Class) {
	t.Helper()
	var fe *netguard.ForbiddenError
	if !errors.Is(err, netguard.ErrForbiddenAddress) || !errors.As(err, &fe) {
		t.Fatalf("err = %v; want ErrForbiddenAddress", err)
	}
	if fe.Addr.String() != netip.MustParseAddr(addr).String() || fe.Class != class {
		t.Errorf("refused %s (%s); want %s (%s)", fe.Addr, fe.Class, addr, class)
	}
	if !strings.Contains(err.Error(), string(class)) {
		t.Errorf("message %q does not name the class", err)
	}
}

func TestForbiddenLiterals(t *testing.T) {
	c := newClient(t, netguard.Options{})
	for _, tc := range forbidden {
		t.Run(tc.addr, func(t *testing.T) {
			host := tc.addr
			if strings.Contains(host, ":") {
				host = "[" + host + "]"
			}
			_, _, err := get(t, c, "http://"+host+":80/")
			wantForbidden(t, err, tc.addr, tc.class)
		})
	}
}

func TestForbiddenNames(t *testing.T) {
	res := fakeResolver{}
	for i, tc := range forbidden {
		res[fmt.Sprintf("h%d.example.com", i)] = []netip.Addr{netip.MustParseAddr(tc.addr)}
	}
	// A name with a public address and a forbidden one is refused whole.
	res["mixed.example.com"] = []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("10.0.0.1")}
	c := newClient(t, netguard.Options{Resolver: res})
	for i, tc := range forbidden {
		t.Run(tc.addr, func(t *testing.T) {
			_, _, err := get(t, c, fmt.Sprintf("http://h%d.example.com/", i))
			wantForbidden(t, err, tc.addr, tc.class)
			if !strings.Contains(err.Error(), fmt.Sprintf("h%d.example.com", i)) {
				t.Errorf("message %q does not name the host", err)
			}
		})
	}
	_, _, err := get(t, c, "http://mixed.example.com/")
	wantForbidden(t, err, "10.0.0.1", netguard.ClassPrivate)
}

func TestAllowAdmits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.Host)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	// Without an allow, the server's loopback address is refused.
	_, _, err := get(t, newClient(t, netguard.Options{}), srv.URL)
	wantForbidden(t, err, "127.0.0.1", netguard.ClassLoopback)

	c := newClient(t, netguard.Options{
		Allow:    []netip.Prefix{loopback},
		Resolver: fakeResolver{"svc.test": {netip.MustParseAddr("127.0.0.1")}},
	})
	for _, u := range []string{srv.URL, fmt.Sprintf("http://svc.test:%d/", port), fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port)} {
		resp, body, err := get(t, c, u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "hello ") {
			t.Errorf("GET %s: %d %q", u, resp.StatusCode, body)
		}
	}
	// The allow is for 127.0.0.0/8 only: other classes stay refused.
	_, _, err = get(t, c, "http://10.0.0.1/")
	wantForbidden(t, err, "10.0.0.1", netguard.ClassPrivate)
}

func TestRedirects(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, "landed")
		case "/to-ok":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default: // /to?u=...
			http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
		}
	}))
	defer srv.Close()
	res := fakeResolver{"metadata.test": {netip.MustParseAddr("169.254.169.254")}, "inside.test": {netip.MustParseAddr("10.0.0.7")}}
	c := newClient(t, netguard.Options{Allow: []netip.Prefix{loopback}, Resolver: res, MaxRedirects: 3})

	_, body, err := get(t, c, srv.URL+"/to-ok")
	if err != nil || string(body) != "landed" {
		t.Fatalf("allowed redirect: %q, %v", body, err)
	}
	for target, want := range map[string]struct {
		addr  string
		class netguard.Class
	}{
		"http://169.254.169.254/latest/meta-data/": {"169.254.169.254", netguard.ClassMetadata},
		"http://metadata.test/":                    {"169.254.169.254", netguard.ClassMetadata},
		"http://inside.test:8080/":                 {"10.0.0.7", netguard.ClassPrivate},
		"http://[::1]:9/":                          {"::1", netguard.ClassLoopback},
	} {
		_, _, err := get(t, c, srv.URL+"/to?u="+url.QueryEscape(target))
		wantForbidden(t, err, want.addr, want.class)
	}
	_, _, err = get(t, c, srv.URL+"/loop")
	if !errors.Is(err, netguard.ErrTooManyRedirects) {
		t.Errorf("redirect loop: %v; want ErrTooManyRedirects", err)
	}

	// CheckURL sees every hop.
	var seen []string
	c = newClient(t, netguard.Options{Allow: []netip.Prefix{loopback}, CheckURL: func(u *url.URL) error {
		seen = append(seen, u.Path)
		if u.Path == "/ok" {
			return errors.New("not this one")
		}
		return nil
	}})
	if _, _, err := get(t, c, srv.URL+"/to-ok"); err == nil || !strings.Contains(err.Error(), "not this one") {
		t.Errorf("CheckURL refusal: %v", err)
	}
	if strings.Join(seen, ",") != "/to-ok,/ok" {
		t.Errorf("CheckURL saw %v", seen)
	}

	// MaxRedirects < 0: the redirect itself is the answer.
	c = newClient(t, netguard.Options{Allow: []netip.Prefix{loopback}, MaxRedirects: -1})
	resp, _, err := get(t, c, srv.URL+"/to-ok")
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Errorf("no redirects: %v, %v", resp, err)
	}
}

func TestBodyCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length
		}
		io.WriteString(w, strings.Repeat("x", 100))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		max  int64
		path string
		ok   bool
	}{
		{100, "/", true}, {100, "/chunked", true}, {99, "/", false}, {99, "/chunked", false}, {1, "/chunked", false},
	} {
		c := newClient(t, netguard.Options{Allow: []netip.Prefix{loopback}, MaxResponseBytes: tc.max})
		_, body, err := get(t, c, srv.URL+tc.path)
		switch {
		case tc.ok && (err != nil || len(body) != 100):
			t.Errorf("cap %d %s: %d bytes, %v", tc.max, tc.path, len(body), err)
		case !tc.ok && !errors.Is(err, netguard.ErrTooLarge):
			t.Errorf("cap %d %s: %d bytes, %v; want ErrTooLarge", tc.max, tc.path, len(body), err)
		}
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newClient(t, netguard.Options{Allow: []netip.Prefix{loopback}, Timeout: 100 * time.Millisecond})
	start := time.Now()
	_, _, err := get(t, c, srv.URL)
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("err = %v; want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}
