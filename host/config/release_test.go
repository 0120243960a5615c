package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testDigest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// A path "sha256:<hex>" pins a plugin to a module by digest: kept as
// Digest, not resolved; a malformed one is an error at the path's value.
func TestDigestPath(t *testing.T) {
	c, err := Parse("c.toml", []byte(`
[plugins.p]
path = "sha256:`+testDigest+`"
events = ["a"]
`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Plugin("p")
	if p.Digest != testDigest || p.ResolvedPath != "" || !p.IsWasmFile() {
		t.Fatalf("Digest %q, ResolvedPath %q, IsWasmFile %v", p.Digest, p.ResolvedPath, p.IsWasmFile())
	}
	for _, bad := range []string{"sha256:", "sha256:abc", "sha256:" + strings.ToUpper(testDigest), "sha256:" + testDigest + "0"} {
		_, err := Parse("c.toml", []byte("[plugins.p]\npath = \""+bad+"\"\nevents = [\"a\"]\n"))
		if err == nil || !strings.Contains(err.Error(), "c.toml:2:8: plugins.p.path: invalid digest") {
			t.Errorf("path %q: %v", bad, err)
		}
	}
}

// ReleaseText drops [host] and [broker], pins the plugins by digest and
// keeps every other value; ParseIn reads it back with relative paths
// resolved against the daemon's directory.
func TestReleaseText(t *testing.T) {
	src := []byte(`
[host]
listen = "127.0.0.1:9999"
token_env = "DEPLOYER_ONLY_TOKEN"
[broker]
kind = "nats"
url = "nats://a:4222"
password_env = "DEPLOYER_ONLY_PASSWORD"
user = "me"
[defaults]
timeout = "2s"
[plugins.p]
path = "plugins/p"           # a Go package directory
events = ["order.*"]
config = { when = 1979-05-27, n = 3, s = "x" }
config_file = { key = "secrets/key" }
[plugins.off]
path = "off.wasm"
events = ["a"]
enabled = false
[[webhooks]]
name = "crm"
url = "https://crm.example/hook"
events = ["user.created"]
secret_env = "CRM_SECRET"
`)
	text, err := ReleaseText(src, map[string]string{"p": testDigest})
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"\n[host]", "\n[broker]", "DEPLOYER_ONLY", "plugins/p"} {
		if strings.Contains(string(text), gone) {
			t.Errorf("the release text still has %q:\n%s", gone, text)
		}
	}
	t.Setenv("CRM_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "secrets"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "secrets", "key"), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := ParseIn("release 1", dir, text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	p := c.Plugin("p")
	if p.Digest != testDigest || p.Timeout.String() != "2s" || p.Events[0] != "order.*" {
		t.Fatalf("plugin p: %+v", p)
	}
	if v, _ := p.ConfigText("when"); v != `"1979-05-27"` { // a local date, as JSON
		t.Errorf("config when = %q", v)
	}
	if v, _ := p.ConfigText("key"); v != "k" {
		t.Errorf("config key (from a file beside the daemon's config) = %q", v)
	}
	if off := c.Plugin("off"); off == nil || off.Enabled || off.Path != "off.wasm" {
		t.Errorf("plugin off: %+v", off)
	}
	if len(c.Webhooks) != 1 || c.Host.Listen != "127.0.0.1:8080" || c.Broker.Kind != BrokerEmbedded {
		t.Errorf("webhooks %d, host %+v, broker %q", len(c.Webhooks), c.Host.Listen, c.Broker.Kind)
	}
	if _, err := ReleaseText(src, map[string]string{"nope": testDigest}); err == nil {
		t.Error("ReleaseText pinned a plugin the config does not have")
	}
	if _, err := ReleaseText(src, map[string]string{"p": "abc"}); err == nil {
		t.Error("ReleaseText accepted an invalid digest")
	}
}

// A JavaScript handler (engine = "js") pinned in a release runs the
// engine's module by its digest: the release has path, not engine.
func TestReleaseTextEngine(t *testing.T) {
	src := []byte("[plugins.j]\nengine = \"js\"\nconfig = { source = \"function handle() {}\" }\nbuild = \"npm run build\"\nevents = [\"a\"]\n")
	if _, err := Parse("c.toml", src); err != nil {
		t.Fatal(err)
	}
	text, err := ReleaseText(src, map[string]string{"j": testDigest})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseIn("release 1", t.TempDir(), text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if p := c.Plugin("j"); p.Engine != "" || p.Digest != testDigest || p.Build.Command != "" {
		t.Fatalf("plugin j: engine %q, digest %q, build %q\n%s", p.Engine, p.Digest, p.Build.Command, text)
	}
}
