package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSourcesDecode(t *testing.T) {
	t.Setenv("GH_SECRET", "a github secret of 16+ bytes")
	c, err := Parse("t.toml", []byte(`
[[sources.webhooks]]
name = "gh"
verify = "github"
secret_env = "GH_SECRET"
[[sources.webhooks]]
name = "st"
path = "pay/stripe"
verify = "stripe"
secrets = ["whsec_new_secret_of_stripe", "whsec_old_secret_of_stripe"]
tolerance = "2m"
[[sources.webhooks]]
name = "sw"
verify = "standard-webhooks"
secret = "`+whsec+`"
type = "billing.event"
[[sources.webhooks]]
name = "shop"
verify = "hmac-sha256"
secret = "a shop secret of 16+ bytes"
header = "X-Sig"
encoding = "base64"
type_header = "X-Topic"
[[sources.nats]]
name = "orders"
subject = "orders.*"
stream = "ORDERS"
type_from_subject = true
[[sources.nats]]
name = "remote"
subject = "x.>"
url = "nats://nats.example.com:4222"
user = "evhost"
password = "pw"
type = "remote.x"
`))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Sources.Webhooks
	if gh := w[0]; gh.Path != "gh" || gh.TypeHeader != "X-GitHub-Event" || gh.TypePrefix != "github." || gh.IDHeader != "X-GitHub-Delivery" ||
		gh.Source != "evhost://hooks/gh" || len(gh.Secrets) != 1 || gh.Secrets[0].Value() != "a github secret of 16+ bytes" || gh.Tolerance != 5*time.Minute || gh.MaxBody != MiB {
		t.Errorf("github: %+v", gh)
	}
	if st := w[1]; st.Path != "pay/stripe" || st.TypeField != "type" || st.TypePrefix != "stripe." || st.IDField != "id" || len(st.Secrets) != 2 || st.Tolerance != 2*time.Minute {
		t.Errorf("stripe: %+v", st)
	}
	if sw := w[2]; sw.Type != "billing.event" || sw.TypeField != "" || sw.IDHeader != "webhook-id" {
		t.Errorf("standard-webhooks: %+v", sw)
	}
	if shop := w[3]; shop.IDHeader != "" || shop.IDField != "" || shop.Encoding != "base64" {
		t.Errorf("hmac: %+v", shop)
	}
	if n := c.Sources.NATS[0]; n.Deliver != DeliverNew || n.AckWait != 30*time.Second || n.MaxMessage != MiB || n.Source != "evhost://nats/orders" {
		t.Errorf("nats: %+v", n)
	}
	if r := c.Sources.NATS[1]; r.Password.Value() != "pw" || r.URL == "" {
		t.Errorf("remote: %+v", r)
	}
}

// Every mistake is reported at its file:line:column.
func TestSourcesErrors(t *testing.T) {
	hook := "[[sources.webhooks]]\nname = \"h\"\n"
	nats := "[[sources.nats]]\nname = \"n\"\n"
	for _, c := range []struct{ name, toml, want string }{
		{"unknown verify", hook + "verify = \"gitlab\"\nsecret = \"a secret of 16+ bytes\"\ntype = \"a\"",
			`t.toml:3:10: sources.webhooks[0].verify: unknown verify "gitlab" (want standard-webhooks, hmac-sha256, github or stripe)`},
		{"missing verify", hook + "secret = \"a secret of 16+ bytes\"\ntype = \"a\"",
			`t.toml:1:11: sources.webhooks[0].verify: missing: how requests are verified: standard-webhooks, hmac-sha256, github or stripe`},
		{"missing secret", hook + "verify = \"github\"",
			`t.toml:1:11: sources.webhooks[0].secret: missing: set secret, secret_env or secret_file (secrets, secrets_env or secrets_file while rotating)`},
		{"unset secret env", hook + "verify = \"github\"\nsecret_env = \"EVHOST_NO_SUCH_VARIABLE\"",
			`t.toml:4:14: sources.webhooks[0].secret_env: environment variable EVHOST_NO_SUCH_VARIABLE is not set`},
		{"two secret keys", hook + "verify = \"github\"\nsecret = \"a secret of 16+ bytes\"\nsecrets = [\"another of 16+ bytes\"]",
			`t.toml:5:1: sources.webhooks[0].secrets: only one of secret, secret_env, secret_file, secrets, secrets_env and secrets_file may be set`},
		{"short secret", hook + "verify = \"github\"\nsecret = \"short\"",
			`t.toml:4:10: sources.webhooks[0].secret: invalid secret 1: shorter than 16 bytes, which an attacker can guess from one signed request`},
		{"not whsec", hook + "verify = \"standard-webhooks\"\nsecret = \"a secret of 16+ bytes\"",
			`t.toml:4:10: sources.webhooks[0].secret: invalid secret 1: not whsec_ followed by the base64 of at least 16 bytes`},
		{"hmac without header", hook + "verify = \"hmac-sha256\"\nsecret = \"a secret of 16+ bytes\"\ntype = \"a\"",
			`t.toml:1:11: sources.webhooks[0].header: missing: the header that carries the signature`},
		{"hmac bad encoding", hook + "verify = \"hmac-sha256\"\nsecret = \"a secret of 16+ bytes\"\ntype = \"a\"\nheader = \"X-S\"\nencoding = \"base32\"",
			`t.toml:7:12: sources.webhooks[0].encoding: invalid encoding "base32" (want hex or base64)`},
		{"hmac without type", hook + "verify = \"hmac-sha256\"\nsecret = \"a secret of 16+ bytes\"\nheader = \"X-S\"",
			`t.toml:1:11: sources.webhooks[0].type: missing: the events' type: set type, type_header or type_field`},
		{"two types", hook + "verify = \"github\"\nsecret = \"a secret of 16+ bytes\"\ntype = \"a\"\ntype_field = \"t\"",
			`t.toml:5:8: sources.webhooks[0].type: set only one of type, type_header and type_field`},
		{"bad path", hook + "verify = \"github\"\nsecret = \"a secret of 16+ bytes\"\npath = \"../admin\"",
			`t.toml:5:8: sources.webhooks[0].path: invalid path "../admin": segments of A-Z, a-z, 0-9, '_', '-' and '.' separated by '/' (served under /v1/hooks/)`},
		{"tolerance", hook + "verify = \"stripe\"\nsecret = \"a secret of 16+ bytes\"\ntolerance = \"2h\"",
			`t.toml:5:13: sources.webhooks[0].tolerance: invalid tolerance 2h0m0s: want more than 0s and at most 1h`},
		{"reserved extension", hook + "verify = \"github\"\nsecret = \"a secret of 16+ bytes\"\nextension_headers = [\"X-Depth\", \"Type\"]",
			`t.toml:5:33: sources.webhooks[0].extension_headers[1]: header "Type" cannot be an extension: its name becomes "type"`},
		{"unknown key", hook + "verify = \"github\"\nsecret = \"a secret of 16+ bytes\"\nsignature_header = \"X\"",
			`t.toml:5:1: sources.webhooks[0].signature_header: unknown key`},
		{"same name", hook + "verify = \"github\"\nsecret = \"a secret of 16+ bytes\"\n" + hook + "path = \"h2\"\nverify = \"github\"\nsecret = \"a secret of 16+ bytes\"",
			`t.toml:6:8: sources.webhooks[1].name: name "h" is already used by sources.webhooks[0]`},
		{"same path", hook + "verify = \"github\"\nsecret = \"a secret of 16+ bytes\"\n[[sources.webhooks]]\nname = \"h2\"\npath = \"h\"\nverify = \"github\"\nsecret = \"a secret of 16+ bytes\"",
			`t.toml:7:8: sources.webhooks[1].path: path "h" is already used by sources.webhooks[0]`},
		{"header with github", hook + "verify = \"github\"\nsecret = \"a secret of 16+ bytes\"\nprefix = \"sha1=\"",
			`t.toml:5:10: sources.webhooks[0].prefix: prefix is used only with verify = "hmac-sha256" (verify = "github" has its own)`},
		{"nats missing subject", nats + "type = \"a\"", `t.toml:1:11: sources.nats[0].subject: missing: the subject to read`},
		{"nats no type", nats + "subject = \"a.b\"", `t.toml:1:11: sources.nats[0].type: missing: the events' type: set type, or type_from_subject = true`},
		{"nats broker's subjects", nats + "subject = \"evhost.events.>\"\ntype = \"a\"",
			`t.toml:3:11: sources.nats[0].subject: subject "evhost.events.>" overlaps the broker's own subjects`},
		{"nats everything", nats + "subject = \">\"\ntype = \"a\"", `t.toml:3:11: sources.nats[0].subject: subject ">" overlaps the broker's own subjects`},
		{"nats memory broker", "[broker]\nkind = \"memory\"\n" + nats + "subject = \"a.b\"\ntype = \"a\"",
			`t.toml:5:11: sources.nats[0].subject: the memory broker has no NATS server to read: set url`},
		{"nats credentials without url", nats + "subject = \"a.b\"\ntype = \"a\"\nuser = \"u\"",
			`t.toml:5:8: sources.nats[0].user: user is used only with url`},
		{"nats bad url", nats + "subject = \"a.b\"\ntype = \"a\"\nurl = \"http://x:4222\"",
			`t.toml:5:7: sources.nats[0].url: invalid url "http://x:4222": scheme must be nats, tls, ws or wss`},
		{"nats deliver without stream", nats + "subject = \"a.b\"\ntype = \"a\"\ndeliver = \"all\"",
			`t.toml:1:11: sources.nats[0].stream: deliver and ack_wait are used only with stream (core NATS has no acknowledgements)`},
		{"nats bad deliver", nats + "subject = \"a.b\"\ntype = \"a\"\nstream = \"S\"\ndeliver = \"last\"",
			`t.toml:6:11: sources.nats[0].deliver: invalid deliver "last"`},
		{"nats type and subject", nats + "subject = \"a.b\"\ntype = \"a\"\ntype_from_subject = true",
			`t.toml:4:8: sources.nats[0].type: set type or type_from_subject, not both`},
		{"nats huge max_message", nats + "subject = \"a.b\"\ntype = \"a\"\nmax_message = \"1GiB\"",
			`t.toml:5:15: sources.nats[0].max_message: invalid max_message 1GiB: want at least 1B and at most 64MiB`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(c.toml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("got\n%v\nwant prefix\n%s", err, c.want)
			}
			var list ErrorList
			if !errors.As(err, &list) || list[0].Line == 0 {
				t.Fatalf("no position: %v", err)
			}
		})
	}
}
