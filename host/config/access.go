package config

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// This file holds the keys of [host] that decide who may reach the HTTP
// API: the names it answers to, the web origins it trusts, and the rule
// that a listener off loopback needs a credential.

// hostAccess decodes the access keys of [host].
func (d *decoder) hostAccess(t *table, h *Host) {
	t.strings("hostnames", &h.Hostnames)
	t.strings("trusted_origins", &h.TrustedOrigins)
	if tt := t.sub("tls"); tt != nil {
		for _, f := range []struct {
			key string
			dst *string
		}{{"cert_file", &h.TLS.CertFile}, {"key_file", &h.TLS.KeyFile}, {"client_ca_file", &h.TLS.ClientCAFile}} {
			if tt.str(f.key, f.dst) && *f.dst != "" {
				*f.dst = d.resolve(*f.dst)
			}
		}
		tt.done()
	}
}

// hostAccess validates the access keys of [host].
func (v *checker) hostAccess(h *Host) {
	for i, n := range h.Hostnames {
		if n == "*" {
			continue
		}
		bare := strings.TrimPrefix(n, "*.")
		if bare == "" || strings.ContainsAny(bare, "*/:@[] \t") {
			v.invalid(indexPath("host.hostnames", i), "invalid hostname %q: want a DNS name such as \"evhost.internal\", \"*.example.com\" or \"*\" (no scheme, no port)", n)
		}
	}
	for i, o := range h.TrustedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			v.invalid(indexPath("host.trusted_origins", i), "invalid origin %q: want scheme://host[:port], such as \"https://ops.example.com\"", o)
		}
	}
	switch {
	case h.TLS.CertFile == "" && (h.TLS.KeyFile != "" || h.TLS.ClientCAFile != ""):
		v.missing("host.tls.cert_file", "missing: [host.tls] needs cert_file, the listener's certificate (PEM)")
	case h.TLS.KeyFile == "" && h.TLS.CertFile != "":
		v.missing("host.tls.key_file", "missing: [host.tls] needs key_file, the key of cert_file (PEM)")
	}
	if checkListen(h.Listen) == nil && !Loopback(h.Listen) && !h.authenticated() {
		v.invalid("host.listen", "listen address %q is reachable from other machines, and the API has no credential: "+
			"set [host] token (or token_env, token_file), or [host.tls] client_ca_file, or listen on loopback (127.0.0.1)", h.Listen)
	}
}

// authenticated reports whether the API requires a credential of clients.
func (h *Host) authenticated() bool {
	return h.Token.IsSet() || h.TLS.ClientCAFile != ""
}

// Loopback reports whether the listen address addr (host:port) can be
// reached only from this machine: a loopback address, or localhost.
// An empty host (all interfaces) is not loopback.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
