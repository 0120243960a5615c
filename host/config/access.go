package config

import (
	"net"
	"net/netip"
	"net/url"
	"slices"
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
	t.boolean("protect_metrics", &h.ProtectMetrics)
	t.str("debug_listen", &h.DebugListen)
	d.httpLimits(t, &h.HTTP)
	d.hostTokens(t, h)
}

// hostTokens decodes the [[host.tokens]] entries.
func (d *decoder) hostTokens(t *table, h *Host) {
	d.tables(t, "tokens", "[[host.tokens]]", func(tt *table) {
		var tok HostToken
		tt.str("name", &tok.Name)
		d.secret(tt, "token", &tok.Token)
		tt.strings("scopes", &tok.Scopes)
		tt.strings("events", &tok.Events)
		tt.done()
		h.Tokens = append(h.Tokens, tok)
	})
}

// Token scopes.
const (
	ScopePublish = "publish"
	ScopeRead    = "read"
	ScopeAdmin   = "admin"
)

// hostTokens validates the [[host.tokens]] entries.
func (v *checker) hostTokens(h *Host) {
	names := map[string]string{}
	values := map[string]string{}
	if h.Token.IsSet() {
		values[h.Token.Value()] = "host.token"
	}
	for i, tok := range h.Tokens {
		path := indexPath("host.tokens", i)
		switch first, dup := names[tok.Name]; {
		case tok.Name == "":
			v.missing(keyPath(path, "name"), "missing: every token needs a name (for logs and metrics)")
		case !validName(tok.Name):
			v.invalid(keyPath(path, "name"), "invalid token name %q: use 1 to 64 of A-Z, a-z, 0-9, '_' and '-'", tok.Name)
		case dup:
			v.invalid(keyPath(path, "name"), "name %q is already used by %s", tok.Name, first)
		default:
			names[tok.Name] = path
		}
		if !tok.Token.IsSet() || tok.Token.Value() == "" {
			v.missing(keyPath(path, "token"), "missing: the token (token, token_env or token_file)")
		} else if first, dup := values[tok.Token.Value()]; dup {
			v.invalid(keyPath(path, "token"), "this token's value is also that of %s: each token must be distinct", first)
		} else {
			values[tok.Token.Value()] = path
		}
		publish := false
		if len(tok.Scopes) == 0 {
			v.missing(keyPath(path, "scopes"), "missing: scopes, some of %q, %q and %q", ScopePublish, ScopeRead, ScopeAdmin)
		}
		for j, s := range tok.Scopes {
			switch s {
			case ScopePublish:
				publish = true
			case ScopeRead, ScopeAdmin:
			default:
				v.invalid(indexPath(keyPath(path, "scopes"), j), "unknown scope %q (want %q, %q or %q)", s, ScopePublish, ScopeRead, ScopeAdmin)
			}
		}
		if tok.Events != nil && !publish {
			v.invalid(keyPath(path, "events"), "events limits what a token may publish: it needs the %q scope", ScopePublish)
		}
		v.patterns(keyPath(path, "events"), tok.Events, false, "")
	}
}

// hostAccess validates the access keys of [host].
func (v *checker) hostAccess(h *Host) {
	v.hostTokens(h)
	v.httpLimits(&h.HTTP)
	v.debugListen(h)
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
			"set [host] token (or token_env, token_file), [[host.tokens]] or [host.tls] client_ca_file, or listen on loopback (127.0.0.1)", h.Listen)
	}
}

// debugListen validates [host] debug_listen: a listener off loopback
// needs a token that may administer (pprof shows the daemon's memory).
func (v *checker) debugListen(h *Host) {
	if h.DebugListen == "" {
		return
	}
	if err := checkListen(h.DebugListen); err != nil {
		v.invalid("host.debug_listen", "invalid debug_listen %q: %v", h.DebugListen, err)
		return
	}
	admin := h.Token.IsSet()
	for _, t := range h.Tokens {
		admin = admin || slices.Contains(t.Scopes, ScopeAdmin)
	}
	if !Loopback(h.DebugListen) && !admin {
		v.invalid("host.debug_listen", "debug_listen %q is reachable from other machines, and no token may administer: "+
			"the profiles show the daemon's memory; set [host] token (or token_env, token_file) or a [[host.tokens]] entry "+
			"with the %q scope, or listen on loopback (127.0.0.1:6060)", h.DebugListen, ScopeAdmin)
	}
}

// authenticated reports whether the API requires a credential of clients.
func (h *Host) authenticated() bool {
	return h.Token.IsSet() || len(h.Tokens) > 0 || h.TLS.ClientCAFile != ""
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
