package natsbus

import (
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// ListenAuth is what network clients must present to the embedded
// server's listener: exactly one of a user name and password, a token, or
// an nkey (the client signs the server's nonce with the seed of NKey). The
// zero ListenAuth requires nothing.
type ListenAuth struct {
	// User and Password: both or neither.
	User, Password string
	// Token is a shared secret token.
	Token string
	// NKey is the public key of a user nkey ("U..."); a client proves it
	// holds the seed by signing the nonce of the server's INFO.
	NKey string
}

func (a ListenAuth) enabled() bool {
	return a.User != "" || a.Password != "" || a.Token != "" || a.NKey != ""
}

func (a ListenAuth) validate() error {
	kinds := 0
	for _, set := range []bool{a.User != "" || a.Password != "", a.Token != "", a.NKey != ""} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return fmt.Errorf("set one way to authenticate: user and password, a token or an nkey")
	case (a.User == "") != (a.Password == ""):
		return fmt.Errorf("set both User and Password")
	case a.NKey != "" && !nkeys.IsValidPublicUserKey(a.NKey):
		return fmt.Errorf("NKey %q is not the public key of a user nkey (it starts with U)", a.NKey)
	}
	return nil
}

// ListenTLS serves the listener over TLS.
type ListenTLS struct {
	// CertFile and KeyFile are the server's PEM certificate and key.
	CertFile, KeyFile string
	// ClientCAFile, when set, is a PEM file of the authorities whose
	// client certificates the listener requires (mutual TLS).
	ClientCAFile string
}

// tlsConfig loads the listener's TLS configuration.
func (t *ListenTLS) tlsConfig() (*tls.Config, error) {
	cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: t.CertFile, KeyFile: t.KeyFile, CaFile: t.ClientCAFile, Verify: t.ClientCAFile != "",
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: embedded server: listener TLS: %w", err)
	}
	return cfg, nil
}

// listenAuth checks the credentials of every client of an embedded server
// whose listener requires some: the network clients against ListenAuth,
// and this process's own in-process connections against a random token
// made at start, which never leaves the process (see RATIONALE.md, "Why a
// custom authenticator for the listener?").
type listenAuth struct {
	want     ListenAuth
	internal string // the token of this process's own connections
}

func newListenAuth(a ListenAuth) (*listenAuth, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("natsbus: embedded server: internal token: %w", err)
	}
	return &listenAuth{want: a, internal: hex.EncodeToString(raw[:])}, nil
}

// Check implements server.Authentication.
func (a *listenAuth) Check(c server.ClientAuthentication) bool {
	if c.Kind() != server.CLIENT {
		return false
	}
	o := c.GetOpts()
	if o == nil {
		return false
	}
	if o.Token != "" && equal(o.Token, a.internal) {
		return true
	}
	w := a.want
	switch {
	case w.User != "":
		return equal(o.Username, w.User) && equal(o.Password, w.Password)
	case w.Token != "":
		return o.Token != "" && equal(o.Token, w.Token)
	case w.NKey != "":
		return o.Nkey == w.NKey && verifyNonce(w.NKey, c.GetNonce(), o.Sig)
	}
	return false
}

// verifyNonce reports whether sig (base64, as clients send it) is pub's
// signature of nonce.
func verifyNonce(pub string, nonce []byte, sig string) bool {
	if len(nonce) == 0 || sig == "" {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(sig); err != nil {
			return false
		}
	}
	kp, err := nkeys.FromPublicKey(pub)
	if err != nil {
		return false
	}
	return kp.Verify(nonce, raw) == nil
}

// equal compares secrets in constant time.
func equal(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// nkeyOption authenticates a client with the user nkey of seed.
func nkeyOption(seed string) (nats.Option, error) {
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		return nil, fmt.Errorf("natsbus: NKeySeed: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("natsbus: NKeySeed: %w", err)
	}
	return nats.Nkey(pub, kp.Sign), nil
}
