package httpcap

import (
	"errors"
	"net/url"
	"testing"

	"github.com/evhost/evhost/host/wasm"
)

// allowed_hosts entries match by host (case-insensitive, trailing dot and
// IP spelling ignored), by port when one is given (the scheme's default
// otherwise), and "*.domain" by subdomain only.
func TestAllowedHostsMatch(t *testing.T) {
	c := &Cap{plugin: "p"}
	for _, s := range []string{"api.example.com", "hooks.example.com:8443", "*.svc.example.com", "10.0.0.1:80", "[::1]:8080", "*.any.example.com:443"} {
		r, err := parseHostRule(s)
		if err != nil {
			t.Fatal(err)
		}
		c.hosts = append(c.hosts, r)
	}
	for u, ok := range map[string]bool{
		"https://api.example.com/x":          true,
		"http://API.Example.COM.:9000/x":     true, // any port
		"https://hooks.example.com:8443/":    true,
		"https://hooks.example.com/":         false, // 443, not 8443
		"https://a.svc.example.com/":         true,
		"https://a.b.svc.example.com/":       true,
		"https://svc.example.com/":           false, // the wildcard is for subdomains
		"https://evilsvc.example.com/":       false,
		"http://10.0.0.1/":                   true,
		"http://10.0.0.1:81/":                false,
		"http://[::ffff:10.0.0.1]/":          true, // the same address
		"http://[0:0:0:0:0:0:0:1]:8080/":     true,
		"http://[::1]/":                      false,
		"https://x.any.example.com/":         true,
		"http://x.any.example.com/":          false,
		"https://api.example.com.evil.test/": false,
		"https://api.example.com@evil.test/": false,
		"file:///etc/passwd":                 false,
		"gopher://api.example.com/":          false,
	} {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		err = c.checkURL(pu)
		if ok && err != nil || !ok && !errors.Is(err, wasm.ErrNotAllowed) {
			t.Errorf("%s: %v, want allowed %v", u, err, ok)
		}
	}
}
