package config

import (
	"net"
	"strings"

	"github.com/nats-io/nkeys"
)

// BrokerListenAuth is the [broker.listen_auth] table: the credentials
// that network clients (evhost deploy, the nats CLI) must present to the
// listener of the embedded server ([broker] listen). Exactly one way:
// user and password, a token, or an nkey. The daemon's own connections
// need none of them.
type BrokerListenAuth struct {
	// User and Password (keys user, password, password_env, password_file).
	User     string
	Password Secret
	// Token (keys token, token_env, token_file).
	Token Secret
	// NKey is the public key of a user nkey, "U..." (key nkey): the
	// listener accepts a client that signs its nonce with the seed.
	NKey string
	// NKeySeed is that seed, "SU..." (keys nkey_seed, nkey_seed_env,
	// nkey_seed_file): what evhost deploy signs with. A daemon needs only
	// NKey; given alone, the seed also gives NKey.
	NKeySeed Secret
}

// IsSet reports whether the table asks for any credentials.
func (a *BrokerListenAuth) IsSet() bool {
	return a.User != "" || a.Password.IsSet() || a.Token.IsSet() || a.NKey != "" || a.NKeySeed.IsSet()
}

// BrokerListenTLS is the [broker.listen_tls] table: TLS on the listener of
// the embedded server. Paths resolve against the config's directory.
type BrokerListenTLS struct {
	// CertFile and KeyFile are the listener's certificate and key, PEM
	// (keys cert_file, key_file).
	CertFile, KeyFile string
	// ClientCAFile, when set, requires clients to present a certificate
	// signed by one of these authorities (key client_ca_file).
	ClientCAFile string
	// What a client of the listener (evhost deploy) uses: CAFile, the
	// authorities that signed CertFile, empty for the system's (key
	// ca_file); ClientCertFile and ClientKeyFile, its certificate for a
	// listener with client_ca_file (keys client_cert_file,
	// client_key_file).
	CAFile, ClientCertFile, ClientKeyFile string
}

// IsSet reports whether the table is given.
func (t *BrokerListenTLS) IsSet() bool { return *t != (BrokerListenTLS{}) }

// listenerSecurity decodes [broker.listen_auth] and [broker.listen_tls].
func (d *decoder) listenerSecurity(c *Config, t *table, b *Broker) {
	if at := t.sub("listen_auth"); at != nil {
		a := &b.ListenAuth
		at.str("user", &a.User)
		d.secret(at, "password", &a.Password)
		d.secret(at, "token", &a.Token)
		at.str("nkey", &a.NKey)
		d.secret(at, "nkey_seed", &a.NKeySeed)
		at.done()
		if a.NKey == "" && a.NKeySeed.IsSet() {
			if kp, err := nkeys.FromSeed([]byte(a.NKeySeed.Value())); err == nil {
				a.NKey, _ = kp.PublicKey()
			}
		}
	}
	if tt := t.sub("listen_tls"); tt != nil {
		l := &b.ListenTLS
		for _, f := range []struct {
			key string
			dst *string
		}{
			{"cert_file", &l.CertFile}, {"key_file", &l.KeyFile}, {"client_ca_file", &l.ClientCAFile},
			{"ca_file", &l.CAFile}, {"client_cert_file", &l.ClientCertFile}, {"client_key_file", &l.ClientKeyFile},
		} {
			if tt.str(f.key, f.dst) && *f.dst != "" {
				*f.dst = c.Resolve(*f.dst)
			}
		}
		tt.done()
	}
}

// listenerSecurity checks [broker.listen_auth] and [broker.listen_tls],
// and refuses a listener off loopback without credentials.
func (v *checker) listenerSecurity(b *Broker) {
	a, l := &b.ListenAuth, &b.ListenTLS
	if b.Kind != BrokerEmbedded || b.Listen == "" {
		if a.IsSet() {
			v.invalid("broker.listen_auth", "listen_auth is used only with kind = %q and listen", BrokerEmbedded)
		}
		if l.IsSet() {
			v.invalid("broker.listen_tls", "listen_tls is used only with kind = %q and listen", BrokerEmbedded)
		}
		return
	}
	kinds := 0
	for _, set := range []bool{a.User != "" || a.Password.IsSet(), a.Token.IsSet(), a.NKey != "" || a.NKeySeed.IsSet()} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		v.invalid("broker.listen_auth", "set one way to authenticate: user and password, token, or nkey")
	case a.User != "" && !a.Password.IsSet():
		v.missing("broker.listen_auth.user", "user needs password (or password_env, password_file)")
	case a.Password.IsSet() && a.User == "":
		v.missing("broker.listen_auth.password", "password needs user")
	case a.NKey != "" && !nkeys.IsValidPublicUserKey(a.NKey):
		v.invalid("broker.listen_auth.nkey", "invalid nkey %q: want the public key of a user nkey (\"U\" and 55 more characters, as nsc or nk -gen user make)", a.NKey)
	case a.NKeySeed.IsSet():
		kp, err := nkeys.FromSeed([]byte(a.NKeySeed.Value()))
		var pub string
		if err == nil {
			pub, err = kp.PublicKey()
		}
		switch {
		case err != nil || !nkeys.IsValidPublicUserKey(pub):
			v.invalid(secretKey("broker.listen_auth.nkey_seed", a.NKeySeed), "invalid nkey_seed: want the seed of a user nkey (\"SU...\")")
		case pub != a.NKey:
			v.invalid("broker.listen_auth.nkey", "nkey is not the public key of nkey_seed (%s)", pub)
		}
	}
	if (l.CertFile == "") != (l.KeyFile == "") || l.IsSet() && l.CertFile == "" {
		v.missing("broker.listen_tls", "set cert_file and key_file")
	}
	if (l.ClientCertFile == "") != (l.ClientKeyFile == "") {
		v.invalid("broker.listen_tls", "set both client_cert_file and client_key_file, or neither")
	}
	if !a.IsSet() && !loopbackListen(b.Listen) {
		v.invalid("broker.listen", "listen %q is reachable from other machines and requires no credentials: anyone there could read every event and publish releases; set [broker.listen_auth] (user and password, token, or nkey), or listen on loopback (127.0.0.1)", b.Listen)
	}
}

// loopbackListen reports whether the host of addr is a loopback address or
// "localhost" (an empty host, or 0.0.0.0, is every interface).
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
