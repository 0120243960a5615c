package specs

import (
	"testing"

	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/jsengine"
)

// A plugin with engine = "js" runs the engine variant its grants allow:
// with the KV imports only when it has kv, with http_request only when it
// has allowed_hosts (a module importing an ungranted capability is
// refused). Other plugins have no engine.
func TestSourceEngineVariant(t *testing.T) {
	c, err := config.Parse("c.toml", []byte(`
[plugins.plain]
engine = "js"
config = { source = "function handle() {}" }
events = ["a"]
[plugins.kv]
engine = "js"
config = { source = "function handle() {}" }
kv = true
events = ["a"]
[plugins.both]
engine = "js"
config = { source = "function handle() {}" }
kv = true
allowed_hosts = ["api.example.com"]
events = ["a"]
[plugins.wasm]
path = "p.wasm"
events = ["a"]
`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]*jsengine.Variant{
		"plain": {}, "kv": {KV: true}, "both": {KV: true, HTTP: true}, "wasm": nil,
	} {
		got := Source(c.Plugin(name)).Engine
		if (got == nil) != (want == nil) || got != nil && *got != *want {
			t.Errorf("%s: engine %+v, want %+v", name, got, want)
		}
	}
	if Guest(c.Plugin("plain")) == Guest(c.Plugin("wasm")) {
		t.Error("Guest does not tell an engine plugin from a path")
	}
}
