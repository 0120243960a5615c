package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

// A listener of the embedded broker off loopback without credentials is
// refused, at the position of listen; on loopback, or with credentials,
// it is accepted.
func TestBrokerListenerNeedsCredentialsOffLoopback(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:4222", ":4222", "10.1.2.3:4222", "[::]:4222", "nats.example.com:4222"} {
		src := "[broker]\nkind = \"embedded\"\nlisten = \"" + listen + "\"\n"
		_, err := Parse("c.toml", []byte(src))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "c.toml:3:10: broker.listen:") ||
			!strings.Contains(err.Error(), "requires no credentials") {
			t.Errorf("listen %q: %v", listen, err)
		}
		if _, err := Parse("c.toml", []byte(src+"[broker.listen_auth]\ntoken = \"t\"\n")); err != nil {
			t.Errorf("listen %q with a token: %v", listen, err)
		}
	}
	for _, listen := range []string{"127.0.0.1:4222", "localhost:4222", "[::1]:4222"} {
		if _, err := Parse("c.toml", []byte("[broker]\nlisten = \""+listen+"\"\n")); err != nil {
			t.Errorf("listen %q: %v", listen, err)
		}
	}
}

func TestBrokerListenAuth(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	other, _ := nkeys.CreateUser()
	otherPub, _ := other.PublicKey()
	t.Setenv("EVHOST_TEST_SEED", string(seed))
	const head = "[broker]\nlisten = \"0.0.0.0:4222\"\n[broker.listen_auth]\n"
	good := map[string]string{
		"user":        "user = \"u\"\npassword = \"p\"\n",
		"token":       "token = \"t\"\n",
		"nkey":        "nkey = \"" + pub + "\"\n",
		"seed":        "nkey_seed_env = \"EVHOST_TEST_SEED\"\n",
		"nkey + seed": "nkey = \"" + pub + "\"\nnkey_seed_env = \"EVHOST_TEST_SEED\"\n",
	}
	for name, body := range good {
		c, err := Parse("c.toml", []byte(head+body))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.HasPrefix(name, "nkey") || name == "seed" {
			if c.Broker.ListenAuth.NKey != pub {
				t.Errorf("%s: nkey %q, want %q", name, c.Broker.ListenAuth.NKey, pub)
			}
		}
	}
	bad := map[string]string{
		"two ways":        "token = \"t\"\nuser = \"u\"\npassword = \"p\"\n",
		"no password":     "user = \"u\"\n",
		"no user":         "password = \"p\"\n",
		"bad nkey":        "nkey = \"SUABC\"\n",
		"other nkey":      "nkey = \"" + otherPub + "\"\nnkey_seed_env = \"EVHOST_TEST_SEED\"\n",
		"bad seed":        "nkey_seed = \"SUxyz\"\n",
		"unknown key":     "passwd = \"p\"\n",
		"tls without key": "token = \"t\"\n[broker.listen_tls]\ncert_file = \"c.pem\"\n",
	}
	for name, body := range bad {
		if _, err := Parse("c.toml", []byte(head+body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Only with an embedded broker's listener.
	if _, err := Parse("c.toml", []byte("[broker.listen_auth]\ntoken = \"t\"\n")); err == nil || !strings.Contains(err.Error(), "listen_auth is used only") {
		t.Errorf("listen_auth without listen: %v", err)
	}
	c, err := Parse("dir/c.toml", []byte("[broker]\nlisten = \"127.0.0.1:4222\"\n[broker.listen_tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\nclient_ca_file = \"ca.pem\"\n"))
	if err != nil || c.Broker.ListenTLS.CertFile != "dir/c.pem" || c.Broker.ListenTLS.ClientCAFile != "dir/ca.pem" {
		t.Fatalf("listen_tls: %+v, %v", c.Broker.ListenTLS, err)
	}
}
