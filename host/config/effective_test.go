package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// TestEffectiveReference renders the repository's config.toml: valid TOML
// that Parse reads back into the same effective configuration, every
// default filled in, and JSON with the same keys.
func TestEffectiveReference(t *testing.T) {
	c, err := Load("../../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := c.Effective().TOML()
	again, err := Parse(filepath.Join(c.Dir, "effective.toml"), text)
	if err != nil {
		t.Fatalf("the effective config does not parse back: %v\n%s", err, text)
	}
	if got := again.Effective().TOML(); string(got) != string(text) {
		t.Errorf("the effective config changes when read back:\n--- first\n%s--- again\n%s", text, got)
	}
	for _, want := range []string{
		"\n[host]\nlisten = \"127.0.0.1:8080\"\n", "\nshutdown_timeout = \"30s\"\n", "\nmax_age = \"168h\"\n",
		"\n[plugins.payment]\npath = " + tomlString(filepath.Join(c.Dir, "plugins/payment")) + "\n",
		"\nmax_attempts = 3\n", "\nmemory = \"64MiB\"\n", "\ndebug_listen = \"\"\n", "\nsample_ratio = 1.0\n",
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the effective config lacks %q:\n%s", want, text)
		}
	}
	var m map[string]map[string]any
	b, err := json.Marshal(c.Effective())
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	delete(top, "webhooks")
	delete(top, "schedules")
	b, _ = json.Marshal(top)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if m["host"]["listen"] != "127.0.0.1:8080" || m["defaults"]["queue"] != float64(1024) || m["plugins"]["audit"] == nil {
		t.Errorf("JSON: %s", b)
	}
}

// TestEffectiveRedactsSecrets renders a config with a secret in every
// place one can be: no secret value is printed, in TOML or JSON, and each
// secret read from the environment or a file names its source.
func TestEffectiveRedactsSecrets(t *testing.T) {
	dir := t.TempDir()
	secrets := map[string]string{
		"host token":          "s3cret-host-token",
		"scoped token":        "s3cret-scoped-token",
		"env token":           "s3cret-from-the-env",
		"file token":          "s3cret-from-a-file",
		"listen password":     "s3cret-nats-password",
		"webhook secret":      "whsec_czNjcmV0LXdlYmhvb2stc2lnbmluZw==",
		"webhook url token":   "s3cret-in-the-query",
		"webhook header":      "Bearer s3cret-header",
		"tracing header":      "s3cret-api-key",
		"plugin config_env":   "s3cret-plugin-env",
		"plugin config_file":  "s3cret-plugin-file",
		"tracing url userpwd": "s3cret-otlp-password",
		"hook secret 1":       "s3cret-inbound-hook-one",
		"hook secret 2":       "s3cret-inbound-hook-two",
		"source password":     "s3cret-source-nats-password",
		"source token":        "s3cret-source-nats-token",
	}
	t.Setenv("EVHOST_TEST_EFFECTIVE_TOKEN", secrets["env token"])
	t.Setenv("EVHOST_TEST_PLUGIN_KEY", secrets["plugin config_env"])
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokenFile := write("token", secrets["file token"])
	pluginFile := write("plugin-key", secrets["plugin config_file"])
	src := `
[host]
listen = "0.0.0.0:8080"
token = "` + secrets["host token"] + `"
[[host.tokens]]
name = "shop"
token = "` + secrets["scoped token"] + `"
scopes = ["publish"]
[[host.tokens]]
name = "ops"
token_env = "EVHOST_TEST_EFFECTIVE_TOKEN"
scopes = ["admin"]
[[host.tokens]]
name = "ci"
token_file = "token"
scopes = ["read"]

[broker]
listen = "127.0.0.1:4222"
listen_auth = { user = "deploy", password = "` + secrets["listen password"] + `" }

[tracing]
endpoint = "https://otel:` + secrets["tracing url userpwd"] + `@collector.example.com/v1/traces"
headers = { "x-api-key" = "` + secrets["tracing header"] + `" }

[plugins.pay]
path = "pay.wasm"
events = ["order.placed"]
config = { currency = "EUR" }
config_env = { api_key = "EVHOST_TEST_PLUGIN_KEY" }
config_file = { signing_key = "plugin-key" }

[[webhooks]]
name = "crm"
events = ["user.created"]
url = "https://crm.example.com/hooks?token=` + secrets["webhook url token"] + `"
secret = "` + secrets["webhook secret"] + `"
headers = { Authorization = "` + secrets["webhook header"] + `" }

[[sources.webhooks]]
name = "shop"
verify = "hmac-sha256"
header = "X-Sig"
type = "shop.order"
secrets = ["` + secrets["hook secret 1"] + `", "` + secrets["hook secret 2"] + `"]
[[sources.webhooks]]
name = "gh"
verify = "github"
secret_env = "EVHOST_TEST_EFFECTIVE_TOKEN"
[[sources.nats]]
name = "legacy"
subject = "orders.>"
type = "legacy.order"
url = "nats://other:4222"
user = "evhost"
password = "` + secrets["source password"] + `"
[[sources.nats]]
name = "legacy2"
subject = "more.>"
type = "legacy.more"
url = "nats://other:4222"
token = "` + secrets["source token"] + `"
`
	c, err := Load(write("config.toml", src))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c.Effective())
	if err != nil {
		t.Fatal(err)
	}
	text := c.Effective().TOML()
	for _, out := range []string{string(text), string(b)} {
		for what, s := range secrets {
			if strings.Contains(out, s) || strings.Contains(out, strings.TrimPrefix(s, "Bearer ")) {
				t.Errorf("the %s is printed:\n%s", what, out)
			}
		}
	}
	for _, want := range []string{
		`token = "[redacted]"`, `token_env = "EVHOST_TEST_EFFECTIVE_TOKEN"`, `token_file = ` + tomlString(tokenFile),
		`password = "[redacted]"`, `headers = { x-api-key = "[redacted]" }`, `secret = "[redacted]"`,
		`url = "https://crm.example.com/hooks?token=redacted"`, `config = { currency = "EUR" }`,
		`config_env = { api_key = "EVHOST_TEST_PLUGIN_KEY" }`, `config_file = { signing_key = ` + tomlString(pluginFile) + ` }`,
		`endpoint = "https://otel:redacted@collector.example.com/v1/traces"`,
		`secrets = ["[redacted]", "[redacted]"]`, `secret_env = "EVHOST_TEST_EFFECTIVE_TOKEN"`,
		"[[sources.nats]]\nname = \"legacy\"",
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the effective config lacks %s:\n%s", want, text)
		}
	}
	var tree map[string]any
	if _, err := toml.Decode(string(text), &tree); err != nil {
		t.Errorf("not valid TOML: %v\n%s", err, text)
	}
}

// Schedules and [delayed] come out with their defaults, and read back the
// same.
func TestEffectiveSchedules(t *testing.T) {
	c, err := Parse("config.toml", []byte(`
[[schedules]]
name = "nightly"
cron = "0 3 * * *"
timezone = "Europe/Paris"
type = "report.due"
data = { kind = "daily" }
[[schedules]]
name = "tick"
every = "30s"
type = "tick"
[delayed]
max_pending = 500
`))
	if err != nil {
		t.Fatal(err)
	}
	text := c.Effective().TOML()
	again, err := Parse("config.toml", text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if got := again.Effective().TOML(); string(got) != string(text) {
		t.Errorf("changed when read back:\n%s---\n%s", text, got)
	}
	for _, want := range []string{`source = "evhost://schedule/tick"`, `timezone = "Europe/Paris"`, `every = "30s"`, `max_delay = "168h"`, `max_pending = 500`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("lacks %s:\n%s", want, text)
		}
	}
}
