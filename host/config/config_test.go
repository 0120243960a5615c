package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// whsec is a valid Standard Webhooks secret for tests.
const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestReferenceConfig decodes the top-level config.toml, the commented
// reference that runs the order pipeline out of the box.
func TestReferenceConfig(t *testing.T) {
	c, err := Load("../../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Host.Listen != "127.0.0.1:8080" || c.Broker.Kind != BrokerEmbedded {
		t.Errorf("listen %q, broker %q; want 127.0.0.1:8080 and embedded", c.Host.Listen, c.Broker.Kind)
	}
	if c.Host.Token.IsSet() {
		t.Errorf("the reference sets a token; it should only show how")
	}
	// The reference shows the defaults as they are: its comments must not lie.
	if c.Defaults != DefaultLimits() {
		t.Errorf("[defaults] of config.toml differ from DefaultLimits():\n got %+v\nwant %+v", c.Defaults, DefaultLimits())
	}
	if !filepath.IsAbs(c.Dir) {
		t.Errorf("Dir %q is not absolute", c.Dir)
	}

	want := []struct {
		name, path    string
		events, emits []string
	}{
		{"payment", "plugins/payment", []string{"order.placed"}, []string{"payment.charged"}},
		{"email", "plugins/email", []string{"payment.charged"}, []string{"email.sent"}},
		{"inventory", "plugins/inventory", []string{"payment.charged"}, []string{}},
		{"audit", "plugins/audit", []string{">"}, []string{}},
	}
	if len(c.Plugins) != len(want) {
		t.Fatalf("%d plugins, want %d", len(c.Plugins), len(want))
	}
	for i, w := range want {
		p := c.Plugins[i]
		if p.Name != w.name || p.Path != w.path || !reflect.DeepEqual(p.Events, w.events) || !reflect.DeepEqual(p.Emits, w.emits) {
			t.Errorf("plugin %d = %s %s %q emits %q; want %s %s %q emits %q",
				i, p.Name, p.Path, p.Events, p.Emits, w.name, w.path, w.events, w.emits)
		}
		if p.ResolvedPath != filepath.Join(c.Dir, w.path) {
			t.Errorf("%s: ResolvedPath %q, want %q", p.Name, p.ResolvedPath, filepath.Join(c.Dir, w.path))
		}
		if !p.Enabled || p.IsWasmFile() || p.KV.Enabled || len(p.AllowedHosts) > 0 {
			t.Errorf("%s: enabled %v, wasm file %v, kv %v, hosts %q; want a plain enabled Go package plugin",
				p.Name, p.Enabled, p.IsWasmFile(), p.KV.Enabled, p.AllowedHosts)
		}
	}
	// payment overrides one limit and inherits the others.
	pay := c.Plugin("payment")
	if pay.MaxAttempts != 3 || pay.Timeout != c.Defaults.Timeout || pay.Memory != c.Defaults.Memory {
		t.Errorf("payment limits %+v; want max_attempts 3 and the defaults otherwise", pay.Limits)
	}
	if c.Plugin("email").Limits != c.Defaults {
		t.Errorf("email limits %+v, want the defaults", c.Plugin("email").Limits)
	}
	if len(c.Webhooks) != 0 {
		t.Errorf("%d webhooks, want none", len(c.Webhooks))
	}
}

// TestReferenceExamples uncomments, one at a time, each commented-out
// example key of config.toml (and the [[webhooks]] example as a whole), so
// that the examples cannot name a key that does not exist or give a value of
// the wrong type. Values may still be refused for other reasons (a secret
// file that is not there, a broker url with kind = "memory").
func TestReferenceExamples(t *testing.T) {
	data, err := os.ReadFile("../../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("EVHOST_TOKEN", "t")
	t.Setenv("PAYMENT_API_KEY", "k")
	t.Setenv("CRM_WEBHOOK_SECRET", whsec)
	for _, env := range []string{"GITHUB_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET_OLD"} {
		t.Setenv(env, "a secret of at least 16 bytes")
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "secrets"), 0o755)
	os.WriteFile(filepath.Join(dir, "secrets", "shop"), []byte("a secret of at least 16 bytes"), 0o600)
	lines := strings.Split(string(data), "\n")
	example := regexp.MustCompile(`^# ([a-z_]+ = .*)$`)
	tomlLine := regexp.MustCompile(`^# (\[|[a-z_]+ = )`)
	tried := 0
	for i, line := range lines {
		if line == "# [[webhooks]]" {
			edited := slices.Clone(lines)
			// The examples from there on, tables and keys (prose stays a comment).
			for j := i; j < len(edited); j++ {
				if tomlLine.MatchString(edited[j]) {
					edited[j] = strings.TrimPrefix(edited[j], "# ")
				}
			}
			c, err := Parse(filepath.Join(dir, "config.toml"), []byte(strings.Join(edited, "\n")))
			if err != nil {
				t.Errorf("the examples from [[webhooks]] on of config.toml are refused:\n%v", err)
			} else if len(c.Sources.Webhooks) != 3 || len(c.Sources.NATS) != 1 || len(c.Schedules) != 2 {
				t.Errorf("the examples give %d webhook and %d NATS sources and %d schedules, want 3, 1 and 2", len(c.Sources.Webhooks), len(c.Sources.NATS), len(c.Schedules))
			}
			tried++
			break
		}
		m := example.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		edited := slices.Clone(lines)
		edited[i] = m[1]
		_, err := Parse("config.toml", []byte(strings.Join(edited, "\n")))
		if errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrType) || errors.Is(err, ErrSyntax) {
			t.Errorf("config.toml:%d: the example %q is refused:\n%v", i+1, m[1], err)
		}
		tried++
	}
	if tried < 15 {
		t.Errorf("only %d examples found in config.toml; has its comment style changed?", tried)
	}
}

func TestEmptyFileIsDefault(t *testing.T) {
	c, err := Parse("config.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.File = "config.toml"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("empty file:\n got %+v\nwant %+v", c, want)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

// TestValidate checks one rule per case: the config is valid (want "") or
// gives exactly the error want.
func TestValidate(t *testing.T) {
	const plugin = "[plugins.p]\npath = \"p.wasm\"\nevents = [\"a\"]\n"
	webhook := func(extra string) string {
		return "[[webhooks]]\nname = \"w\"\nevents = [\"a\"]\nurl = \"https://example.com/h\"\nsecret = \"" + whsec + "\"\n" + extra
	}
	tests := []struct {
		name, toml, want string
	}{
		{"empty", "", ""},
		{"dotted key adds to an array", "s = []\ns.t = []", `t.toml:2:1: s: syntax error: already defined at 1:5 (TOML allows one definition of a key)`},
		{"dotted key adds to an inline table", "[x]\ns = {}\ns.t.u = 1", `t.toml:3:1: x.s: syntax error: already defined at 2:5 (TOML allows one definition of a key)`},
		{"empty key", "[plugins.p]\npath = \"p.wasm\"\nevents = [\"a\"]\nconfig.\"\" = [0, {}]", `t.toml:4:8: syntax error: an empty key ("") is not allowed`},
		{"empty key in a header", "[a.''.b]", `t.toml:1:4: syntax error: an empty key ("") is not allowed`},
		{"key after a dotted key", "[[a]]\n[[a]]\ns.t = 1\ns = 0", `t.toml:4:1: a[1].s: syntax error: already defined at 3:1 (TOML allows one definition of a key)`},
		{"dotted key inside a table", "a.b = 1\na.c = 2\n[host]\nlisten = \"127.0.0.1:1\"", `t.toml:1:1: a: unknown key`},
		{"plugin", plugin, ""},
		{"listen any interface", "[host]\nlisten = \":8080\"",
			`t.toml:2:10: host.listen: listen address ":8080" is reachable from other machines, and the API has no credential: set [host] token (or token_env, token_file), [[host.tokens]] or [host.tls] client_ca_file, or listen on loopback (127.0.0.1)`},
		{"listen any interface with a token", "[host]\nlisten = \":8080\"\ntoken = \"t\"", ""},
		{"listen off loopback", "[host]\nlisten = \"10.0.0.5:8080\"",
			`t.toml:2:10: host.listen: listen address "10.0.0.5:8080" is reachable from other machines, and the API has no credential: set [host] token (or token_env, token_file), [[host.tokens]] or [host.tls] client_ca_file, or listen on loopback (127.0.0.1)`},
		{"listen any interface with mTLS", "[host]\nlisten = \":8443\"\n[host.tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\nclient_ca_file = \"ca.pem\"", ""},
		{"tls without key", "[host.tls]\ncert_file = \"c.pem\"", `t.toml:1:7: host.tls.key_file: missing: [host.tls] needs key_file, the key of cert_file (PEM)`},
		{"tls without cert", "[host.tls]\nkey_file = \"k.pem\"", `t.toml:1:7: host.tls.cert_file: missing: [host.tls] needs cert_file, the listener's certificate (PEM)`},
		{"tls unknown key", "[host.tls]\ncert = \"c.pem\"", `t.toml:2:1: host.tls.cert: unknown key`},
		{"tokens", "[host]\nlisten = \":8080\"\nprotect_metrics = true\n[[host.tokens]]\nname = \"shop\"\ntoken = \"t1\"\nscopes = [\"publish\"]\nevents = [\"order.*\"]\n[[host.tokens]]\nname = \"ops\"\ntoken_env = \"HOME\"\nscopes = [\"read\", \"admin\"]\n", ""},
		{"token without name", "[[host.tokens]]\ntoken = \"t\"\nscopes = [\"read\"]", `t.toml:1:8: host.tokens[0].name: missing: every token needs a name (for logs and metrics)`},
		{"token without value", "[[host.tokens]]\nname = \"a\"\nscopes = [\"read\"]", `t.toml:1:8: host.tokens[0].token: missing: the token (token, token_env or token_file)`},
		{"token bad scope", "[[host.tokens]]\nname = \"a\"\ntoken = \"t\"\nscopes = [\"read\", \"write\"]", `t.toml:4:19: host.tokens[0].scopes[1]: unknown scope "write" (want "publish", "read" or "admin")`},
		{"token events without publish", "[[host.tokens]]\nname = \"a\"\ntoken = \"t\"\nscopes = [\"read\"]\nevents = [\"a\"]", `t.toml:5:10: host.tokens[0].events: events limits what a token may publish: it needs the "publish" scope`},
		{"token bad pattern", "[[host.tokens]]\nname = \"a\"\ntoken = \"t\"\nscopes = [\"publish\"]\nevents = [\"a.>.b\"]", `t.toml:5:11: host.tokens[0].events[0]: invalid pattern "a.>.b": '>' must be the last token`},
		{"tokens same value", "[host]\ntoken = \"t\"\n[[host.tokens]]\nname = \"a\"\ntoken = \"t\"\nscopes = [\"read\"]", `t.toml:5:9: host.tokens[0].token: this token's value is also that of host.token: each token must be distinct`},
		{"tokens same name", "[[host.tokens]]\nname = \"shop\"\ntoken = \"t1\"\nscopes = [\"publish\"]\nevents = [\"order.*\"]\n[[host.tokens]]\nname = \"shop\"\ntoken = \"t2\"\nscopes = [\"publish\"]\nevents = [\"order.*\"]\n", `t.toml:7:8: host.tokens[1].name: name "shop" is already used by host.tokens[0]`},
		{"http limits", "[host]\nread_timeout = \"1s\"\nread_header_timeout = \"1s\"\nwrite_timeout = \"1m\"\nidle_timeout = \"1s\"\nmax_header_bytes = \"8KiB\"\nmax_batch = 10", ""},
		{"zero read_timeout", "[host]\nread_timeout = \"0s\"", `t.toml:2:16: host.read_timeout: invalid read_timeout 0s: must be positive`},
		{"zero max_batch", "[host]\nmax_batch = 0", `t.toml:2:13: host.max_batch: invalid max_batch 0: must be at least 1`},
		{"tiny max_header_bytes", "[host]\nmax_header_bytes = 100", `t.toml:2:20: host.max_header_bytes: invalid max_header_bytes 100B: want from 1KiB to 1MiB`},
		{"listen loopback names", "[host]\nlisten = \"localhost:8080\"", ""},
		{"listen ipv6 loopback", "[host]\nlisten = \"[::1]:0\"", ""},
		{"hostnames", "[host]\nhostnames = [\"evhost.internal\", \"*.example.com\", \"*\"]", ""},
		{"bad hostname", "[host]\nhostnames = [\"ok\", \"http://evhost.internal\"]",
			`t.toml:2:20: host.hostnames[1]: invalid hostname "http://evhost.internal": want a DNS name such as "evhost.internal", "*.example.com" or "*" (no scheme, no port)`},
		{"trusted origins", "[host]\ntrusted_origins = [\"https://ops.example.com\", \"http://localhost:3000\"]", ""},
		{"bad trusted origin", "[host]\ntrusted_origins = [\"https://ops.example.com/app\"]",
			`t.toml:2:20: host.trusted_origins[0]: invalid origin "https://ops.example.com/app": want scheme://host[:port], such as "https://ops.example.com"`},
		{"listen no port", "[host]\nlisten = \"localhost\"",
			`t.toml:2:10: host.listen: invalid listen address "localhost": address localhost: missing port in address`},
		{"listen bad port", "[host]\nlisten = \"localhost:http\"",
			`t.toml:2:10: host.listen: invalid listen address "localhost:http": port "http" is not a number from 0 to 65535`},
		{"empty data_dir", "[host]\ndata_dir = \"\"", `t.toml:2:12: host.data_dir: missing: the directory for the daemon's data`},
		{"log level", "[host]\nlog_level = \"WARN\"\nlog_format = \"json\"", ""},
		{"zero max_body", "[host]\nmax_body = 0", `t.toml:2:12: host.max_body: invalid max_body 0B: must be positive`},
		{"max_body bytes", "[host]\nmax_body = 4096", ""},
		{"allow_networks", "[host]\nallow_networks = [\"127.0.0.0/8\", \"::1/128\", \"10.20.0.0/16\"]", ""},
		{"allow_networks bad cidr", "[host]\nallow_networks = [\"127.0.0.0/8\", \"10.0.0.300/8\"]",
			`t.toml:2:34: host.allow_networks[1]: invalid network "10.0.0.300/8": want a CIDR such as "10.0.0.0/8"`},
		{"allow_networks no length", "[host]\nallow_networks = [\"127.0.0.1\"]",
			`t.toml:2:19: host.allow_networks[0]: invalid network "127.0.0.1": want a CIDR such as "10.0.0.0/8"`},
		{"allow_networks host bits", "[host]\nallow_networks = [\"127.0.0.1/8\"]",
			`t.toml:2:19: host.allow_networks[0]: invalid network "127.0.0.1/8": host bits set (did you mean "127.0.0.0/8"?)`},
		{"allow_networks not strings", "[host]\nallow_networks = \"127.0.0.0/8\"",
			`t.toml:2:18: host.allow_networks: expected an array of strings, found a string "127.0.0.0/8"`},
		{"tracing", "[tracing]\nenabled = true\nendpoint = \"https://otel.example.com/v1/traces\"\nheaders = { \"x-api-key\" = \"k\" }\nsample_ratio = 0.25", ""},
		{"ack_wait", "[defaults]\nack_wait = \"5s\"", ""},
		{"filter", plugin + "filter = 'data.amount > 100 && source.startsWith(\"shop/\")'", ""},
		{"filter syntax", plugin + "filter = 'data.amount >'",
			`t.toml:4:10: plugins.p.filter: invalid filter: ERROR: <input>:1:14: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}  | data.amount >  | .............^`},
		{"order and rate", plugin + "order_by = 'data.customer.id'\npartitions = 32\nrate = '6000/m'\nburst = 20", ""},
		{"order_by extension", webhook("order_by = 'tenantid'\nrate = '100/s'"), ""},
		{"bad order_by", plugin + "order_by = 'data..id'",
			`t.toml:4:12: plugins.p.order_by: invalid order_by "data..id": path "data..id": empty segment`},
		{"bad order_by webhook", webhook("order_by = 'Customer'"),
			`t.toml:6:12: webhooks[0].order_by: invalid order_by "Customer": "Customer" is neither subject, source, type, a path into data (data.x.y) nor an extension attribute name: event: attribute "Customer": name must be lower-case letters and digits`},
		{"partitions without order_by", plugin + "partitions = 4",
			`t.toml:4:14: plugins.p.partitions: partitions without order_by: set order_by to the key that orders the events`},
		{"too many partitions", plugin + "order_by = 'subject'\npartitions = 1000",
			`t.toml:5:14: plugins.p.partitions: invalid partitions 1000: want 1 to 256`},
		{"bad rate unit", plugin + "rate = '100/d'",
			`t.toml:4:8: plugins.p.rate: invalid rate "100/d": unit "d": want s, m or h`},
		{"bad rate count", webhook("rate = '0/s'"),
			`t.toml:6:8: webhooks[0].rate: invalid rate "0/s": count "0": want a whole number from 1 to 1000000`},
		{"rate not a string", plugin + "rate = 100",
			`t.toml:4:8: plugins.p.rate: expected a rate string such as "100/s" or "6000/m", found an integer 100`},
		{"burst without rate", plugin + "burst = 5",
			`t.toml:4:9: plugins.p.burst: burst without rate: set rate too`},
		{"filter not bool", webhook("filter = 'subject'"),
			`t.toml:6:10: webhooks[0].filter: invalid filter: the expression is of type string, want bool`},
		{"ack_wait too short", "[defaults]\nack_wait = \"500ms\"",
			`t.toml:2:12: defaults.ack_wait: invalid ack_wait 500ms: must be at least 1s`},
		{"tracing integer ratio", "[tracing]\nsample_ratio = 1", ""},
		{"tracing bad endpoint", "[tracing]\nendpoint = \"127.0.0.1:4318\"",
			`t.toml:2:12: tracing.endpoint: invalid endpoint "127.0.0.1:4318": want the http(s) URL of an OTLP/HTTP traces receiver, such as "http://127.0.0.1:4318/v1/traces"`},
		{"tracing ratio too big", "[tracing]\nsample_ratio = 1.5",
			`t.toml:2:16: tracing.sample_ratio: invalid sample_ratio 1.5: want a number from 0 to 1`},
		{"tracing ratio not a number", "[tracing]\nsample_ratio = \"all\"",
			`t.toml:2:16: tracing.sample_ratio: expected a number, found a string "all"`},
		{"tracing unknown key", "[tracing]\nexporter = \"otlp\"",
			`t.toml:2:1: tracing.exporter: unknown key`},
		{"broker kind", "[broker]\nkind = \"kafka\"", `t.toml:2:8: broker.kind: invalid broker kind "kafka" (want embedded, nats or memory)`},
		{"broker url without nats", "[broker]\nkind = \"embedded\"\nurl = \"nats://x:4222\"",
			`t.toml:3:7: broker.url: url is used only with kind = "nats"`},
		{"broker nats", "[broker]\nkind = \"nats\"\nurl = \"nats://a:4222, tls://b:4222\"", ""},
		{"broker nats bad url", "[broker]\nkind = \"nats\"\nurl = \"http://a:4222\"",
			`t.toml:3:7: broker.url: invalid url "http://a:4222": scheme must be nats, tls, ws or wss`},
		{"broker nats auth tls", "[broker]\nkind = \"nats\"\nurl = \"tls://a:4222\"\nuser = \"evhost\"\npassword = \"pw\"\n[broker.tls]\nca_file = \"ca.pem\"", ""},
		{"broker nats two auths", "[broker]\nkind = \"nats\"\nurl = \"nats://a:4222\"\ncreds_file = \"x.creds\"\ntoken = \"t\"",
			`t.toml:5:9: broker.token: set at most one of creds_file, user and token`},
		{"broker tls half", "[broker]\nkind = \"nats\"\nurl = \"nats://a:4222\"\n[broker.tls]\ncert_file = \"c.pem\"",
			`t.toml:4:9: broker.tls: set both cert_file and key_file, or neither`},
		{"broker creds embedded", "[broker]\ncreds_file = \"x.creds\"",
			`t.toml:2:14: broker.creds_file: creds_file is used only with kind = "nats"`},
		{"broker listen nats", "[broker]\nkind = \"nats\"\nurl = \"nats://a:4222\"\nlisten = \"127.0.0.1:4222\"",
			`t.toml:4:10: broker.listen: listen is used only with kind = "embedded"`},
		{"broker embedded tuned", "[broker]\nfsync = \"always\"\nlisten = \"127.0.0.1:0\"\nmax_age = \"24h\"\nmax_bytes = \"1GiB\"\ndedup_window = \"10m\"\nprefix = \"shop\"", ""},
		{"broker fsync", "[broker]\nfsync = \"never\"", `t.toml:2:9: broker.fsync: invalid fsync "never" (want "interval" or "always")`},
		{"broker dedup over max_age", "[broker]\nmax_age = \"1m\"\ndedup_window = \"2m\"",
			`t.toml:3:16: broker.dedup_window: dedup_window 2m0s is longer than max_age 1m0s`},
		{"broker prefix", "[broker]\nprefix = \"a.b\"", `t.toml:2:10: broker.prefix: invalid prefix "a.b": want 1 to 32 characters of A-Z, a-z, 0-9, '_' and '-'`},
		{"broker memory", "[broker]\nkind = \"memory\"", ""},
		{"zero timeout", "[defaults]\ntimeout = \"0s\"", `t.toml:2:11: defaults.timeout: invalid timeout 0s: must be positive`},
		{"negative backoff", "[defaults]\nbackoff = \"-1s\"", `t.toml:2:11: defaults.backoff: invalid backoff -1s: must not be negative`},
		{"max_backoff below backoff", "[defaults]\nbackoff = \"1m\"\nmax_backoff = \"1s\"",
			`t.toml:3:15: defaults.max_backoff: invalid max_backoff 1s: less than backoff 1m0s`},
		{"zero queue", "[defaults]\nqueue = 0", `t.toml:2:9: defaults.queue: invalid queue 0: must be at least 1`},
		{"zero max_attempts", "[defaults]\nmax_attempts = 0", `t.toml:2:16: defaults.max_attempts: invalid max_attempts 0: must be at least 1`},
		{"memory too small", "[defaults]\nmemory = \"32KiB\"",
			`t.toml:2:10: defaults.memory: invalid memory 32KiB: must be at least 64KiB (one wasm page) and below 2GiB`},
		{"memory too big", "[defaults]\nmemory = \"2GiB\"",
			`t.toml:2:10: defaults.memory: invalid memory 2GiB: must be at least 64KiB (one wasm page) and below 2GiB`},
		{"zero max_depth", "[defaults]\nmax_depth = 0", `t.toml:2:13: defaults.max_depth: invalid max_depth 0: must be at least 1`},
		{"zero max_emits", "[defaults]\nmax_emits = 0", ""},
		{"max_emit_bytes", "[defaults]\nmax_emit_bytes = \"16MiB\"", ""},
		{"zero max_emit_bytes", "[defaults]\nmax_emit_bytes = 0",
			`t.toml:2:18: defaults.max_emit_bytes: invalid max_emit_bytes 0B: must be at least 1B and at most 1GiB`},
		{"max_emit_bytes too big", "[plugins.p]\npath = \"p\"\nevents = [\"a\"]\nmax_emit_bytes = \"2GiB\"",
			`t.toml:4:18: plugins.p.max_emit_bytes: invalid max_emit_bytes 2GiB: must be at least 1B and at most 1GiB`},
		{"negative max_emit_bytes", "[defaults]\nmax_emit_bytes = -1", `t.toml:2:18: defaults.max_emit_bytes: invalid size -1: negative`},
		{"pool", "[defaults]\nmin_instances = 2\nmax_instances = 8\nmax_calls = 10000\nmax_age = \"10m\"", ""},
		{"max_instances below min", "[defaults]\nmin_instances = 4\nmax_instances = 2",
			`t.toml:3:17: defaults.max_instances: invalid max_instances 2: less than min_instances 4`},
		{"negative max_log_bytes", "[defaults]\nmax_log_bytes = -1", `t.toml:2:17: defaults.max_log_bytes: invalid size -1: negative`},
		{"integer overflow", "[defaults]\nmax_calls = 9223372036854775807", ""},

		{"events missing", "[plugins.p]\npath = \"p.wasm\"",
			`t.toml:1:10: plugins.p.events: missing: the event types the plugin handles`},
		{"events empty", "[plugins.p]\npath = \"p.wasm\"\nevents = []",
			`t.toml:3:10: plugins.p.events: empty: list the event types the plugin handles`},
		{"patterns", "[plugins.p]\npath = \"p\"\nevents = [\">\", \"*\", \"order.*\", \"order.>\", \"a.*.c\", \"com.example.v1:x\"]", ""},
		{"pattern empty", "[plugins.p]\npath = \"p\"\nevents = [\"\"]", `t.toml:3:11: plugins.p.events[0]: invalid pattern "": empty`},
		{"pattern space", "[plugins.p]\npath = \"p\"\nevents = [\"a b\"]",
			`t.toml:3:11: plugins.p.events[0]: invalid pattern "a b": contains whitespace or a control character`},
		{"pattern partial wildcard", "[plugins.p]\npath = \"p\"\nevents = [\"order.>x\"]",
			`t.toml:3:11: plugins.p.events[0]: invalid pattern "order.>x": '*' and '>' must be whole tokens, as in order.* or order.>`},
		{"pattern trailing dot", "[plugins.p]\npath = \"p\"\nevents = [\"order.\"]",
			`t.toml:3:11: plugins.p.events[0]: invalid pattern "order.": empty token (a leading, trailing or double dot)`},
		{"emits none", plugin + "emits = []", ""},
		{"plugin name", "[plugins.\"a.b\"]\npath = \"p\"\nevents = [\"a\"]",
			`t.toml:1:10: plugins."a.b": invalid plugin name "a.b": use 1 to 64 of A-Z, a-z, 0-9, '_' and '-'`},
		{"path empty", "[plugins.p]\npath = \"\"\nevents = [\"a\"]",
			`t.toml:2:8: plugins.p.path: missing: the plugin's .wasm file or Go package directory`},
		{"engine js", "[plugins.p]\nengine = \"js\"\nconfig = { source = \"function handle() {}\" }\nevents = [\"a\"]", ""},
		{"engine unknown", "[plugins.p]\nengine = \"lua\"\nconfig = { source = \"x\" }\nevents = [\"a\"]",
			`t.toml:2:10: plugins.p.engine: invalid engine "lua": the one engine evhost provides is "js" (JavaScript)`},
		{"engine and path", "[plugins.p]\nengine = \"js\"\npath = \"p.wasm\"\nconfig = { source = \"x\" }\nevents = [\"a\"]",
			`t.toml:2:10: plugins.p.engine: engine with path: the plugin runs evhost's engine or the module at path, not both`},
		{"engine without source", "[plugins.p]\nengine = \"js\"\nevents = [\"a\"]",
			`t.toml:1:10: plugins.p.config: missing: the handler's source for engine = "js", the config value source (e.g. config_file = { source = "dist/handler.js" })`},
		{"env", plugin + "env = { TZ = \"UTC\", \"A=B\" = \"x\" }",
			`t.toml:4:21: plugins.p.env."A=B": invalid environment variable name "A=B"`},
		{"allowed hosts", plugin + "allowed_hosts = [\"api.example.com\", \"api.example.com:443\", \"*.example.com\", \"10.0.0.1\", \"[::1]:8080\"]", ""},
		{"allowed host URL", plugin + "allowed_hosts = [\"https://api.example.com\"]",
			`t.toml:4:18: plugins.p.allowed_hosts[0]: invalid host "https://api.example.com": want a host name, optionally with :port, not a URL`},
		{"allowed host bad char", plugin + "allowed_hosts = [\"a_b.example.com\"]",
			`t.toml:4:18: plugins.p.allowed_hosts[0]: invalid host "a_b.example.com": invalid character '_' in host name (only '*.' may start a wildcard)`},
		{"kv true", plugin + "kv = true", ""},
		{"kv quotas", plugin + "kv = { max_value_bytes = \"1KiB\", max_bytes = \"1MiB\" }", ""},
		{"kv zero value", plugin + "[plugins.p.kv]\nmax_value_bytes = 0",
			`t.toml:5:19: plugins.p.kv.max_value_bytes: invalid max_value_bytes 0B: must be positive`},
		{"config nan", plugin + "config = { x = nan }",
			`t.toml:4:16: plugins.p.config.x: NaN cannot be given to a plugin: JSON has no such number`},
		{"config twice", plugin + "config = { k = 1 }\nconfig_env = { k = \"HOME\" }",
			`t.toml:5:16: plugins.p.config_env.k: config key "k" is given more than once (config, config_env, config_file)`},
		{"inherited error reported once", "[defaults]\nconcurrency = 0\n" + plugin,
			`t.toml:2:15: defaults.concurrency: invalid concurrency 0: must be at least 1`},
		{"override error", "[defaults]\nconcurrency = 0\n" + plugin + "concurrency = -1",
			"t.toml:2:15: defaults.concurrency: invalid concurrency 0: must be at least 1\n" +
				`t.toml:6:15: plugins.p.concurrency: invalid concurrency -1: must be at least 1`},

		{"webhook", webhook("headers = { X-Tenant = \"shop\" }\ntimeout = \"10s\"\nconcurrency = 4"), ""},
		{"webhook rotation", strings.Replace(webhook(""), whsec, whsec+" "+whsec, 1), ""},
		{"webhook no name", "[[webhooks]]\nevents = [\"a\"]\nurl = \"https://x\"\nsecret = \"" + whsec + "\"",
			`t.toml:1:3: webhooks[0].name: missing: every webhook needs a name`},
		{"webhook no url", "[[webhooks]]\nname = \"w\"\nevents = [\"a\"]\nsecret = \"" + whsec + "\"",
			`t.toml:1:3: webhooks[0].url: missing: the endpoint's http or https URL`},
		{"webhook url credentials", strings.Replace(webhook(""), "https://", "https://u:p@", 1),
			`t.toml:4:7: webhooks[0].url: invalid url "https://u:redacted@example.com/h": credentials in the URL are not allowed; use headers`},
		{"webhook url secret redacted", strings.Replace(webhook(""), "https://example.com/h", "ftp://example.com/h?token=s3cret", 1),
			`t.toml:4:7: webhooks[0].url: invalid url "ftp://example.com/h?token=redacted": scheme must be http or https`},
		{"webhook no secret", "[[webhooks]]\nname = \"w\"\nevents = [\"a\"]\nurl = \"https://x\"",
			`t.toml:1:3: webhooks[0].secret: missing: set secret, secret_env or secret_file to a whsec_ signing secret`},
		{"webhook short secret", strings.Replace(webhook(""), whsec, "whsec_c2hvcnQ=", 1),
			`t.toml:5:10: webhooks[0].secret: invalid secret: secret 1 is not whsec_ followed by the base64 of at least 16 bytes`},
		{"webhook reserved header", webhook("headers = { Webhook-Signature = \"x\" }"),
			`t.toml:6:13: webhooks[0].headers.Webhook-Signature: header Webhook-Signature is set by the delivery itself`},
		{"webhook bad header", webhook("headers = { \"X Y\" = \"x\" }"),
			`t.toml:6:13: webhooks[0].headers."X Y": invalid header name "X Y"`},
		{"webhook named like a plugin", plugin + strings.Replace(webhook(""), `"w"`, `"p"`, 1),
			`t.toml:5:8: webhooks[0].name: name "p" is already used by plugins.p`},
		{"webhook limits", webhook("max_attempts = 0"), `t.toml:6:16: webhooks[0].max_attempts: invalid max_attempts 0: must be at least 1`},
		{"webhook unknown guest key", webhook("memory = \"1MiB\""), `t.toml:6:1: webhooks[0].memory: unknown key`},
		{"webhooks not a list", "webhooks = 1", `t.toml:1:12: webhooks: expected an array of tables ([[webhooks]]), found an integer 1`},
		{"secret wrong type hides value", "[host]\ntoken = 12345", `t.toml:2:9: host.token: expected a string, found an integer`},
		{"plugin not a table", "[plugins]\np = 1", `t.toml:2:5: plugins.p: expected a table, found an integer 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tc.toml))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Parse:\n%s\n got: %s\nwant: %s", tc.toml, got, tc.want)
			}
		})
	}
}

// TestValidateInCode checks Validate on a Config built without a file: the
// errors have paths but no positions.
func TestValidateInCode(t *testing.T) {
	c := Default()
	p := c.NewPlugin("x")
	p.Events = []string{"order.*"}
	p.Concurrency = 0
	c.Plugins = append(c.Plugins, p)
	err := c.Validate()
	want := "plugins.x.path: missing: the plugin's .wasm file or Go package directory\n" +
		"plugins.x.concurrency: invalid concurrency 0: must be at least 1"
	if err == nil || err.Error() != want {
		t.Fatalf("Validate() = %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrMissing) || !errors.Is(err, ErrInvalid) || errors.Is(err, ErrSyntax) {
		t.Errorf("errors.Is does not see the right sentinels in %v", err)
	}
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 || list[0].Path != "plugins.x.path" || list[0].Line != 0 {
		t.Errorf("errors.As(ErrorList) = %#v", list)
	}
}

func TestErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		toml string
		kind error
	}{
		{"a = ", ErrSyntax},
		{"x = 1", ErrUnknownKey},
		{"[host]\nlisten = 1", ErrType},
		{"[plugins.p]\nevents = [\"a\"]", ErrMissing},
		{"[defaults]\ntimeout = \"5x\"", ErrInvalid},
	} {
		_, err := Parse("t.toml", []byte(tc.toml))
		var e *Error
		if !errors.Is(err, tc.kind) || !errors.As(err, &e) || e.Line == 0 {
			t.Errorf("Parse(%q) = %v; want a positioned %v", tc.toml, err, tc.kind)
		}
	}
}

func TestSecrets(t *testing.T) {
	const token = "s3cret-token-value"
	t.Setenv("EVHOST_TEST_TOKEN", token)
	t.Setenv("EVHOST_TEST_API_KEY", "k3y")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hook.secret"), []byte(whsec+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "config.toml")
	data := `
[host]
token_env = "EVHOST_TEST_TOKEN"

[plugins.p]
path = "p.wasm"
events = ["a"]
config_env = { api_key = "EVHOST_TEST_API_KEY" }
config_file = { signing = "hook.secret" }

[[webhooks]]
name = "w"
events = ["a"]
url = "https://example.com/h"
secret_file = "hook.secret"
`
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Host.Token.Value(); got != token {
		t.Errorf("token %q, want %q", got, token)
	}
	if got := c.Host.Token.Source(); got != "env EVHOST_TEST_TOKEN" {
		t.Errorf("token source %q", got)
	}
	if got := c.Webhooks[0].Secret.Value(); got != whsec {
		t.Errorf("webhook secret %q, want %q (read from a file relative to the config)", got, whsec)
	}
	p := c.Plugin("p")
	if v, _ := p.ConfigText("api_key"); v != "k3y" {
		t.Errorf("config_env value %q, want k3y", v)
	}
	if v, _ := p.ConfigText("signing"); v != whsec {
		t.Errorf("config_file value %q, want the file's content", v)
	}

	// No way of printing the Config reveals a secret.
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "host", c.Host, "token", c.Host.Token, "plugin", c.Plugins[0])
	for _, out := range []string{
		fmt.Sprintf("%v", c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", *c), fmt.Sprintf("%s|%q|%x", c.Host.Token, c.Host.Token, c.Host.Token),
		fmt.Sprint(c.Webhooks), fmt.Sprintf("%+v", c.Plugins), string(js), logged.String(),
	} {
		for _, secret := range []string{token, "k3y", whsec} {
			if strings.Contains(out, secret) {
				t.Errorf("secret %q printed in %s", secret, out)
			}
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("no [redacted] in %s", out)
		}
	}
}

func TestConfigText(t *testing.T) {
	c, err := Parse("t.toml", []byte(`
[plugins.p]
path = "p.wasm"
events = ["a"]

[plugins.p.config]
s = "plain <text>"
n = 42
f = 1.5
b = true
arr = [1, "a", { x = 1 }]
tbl = { x = 1, y = "<y>" }
date = 1979-05-27
time = 07:32:00
local = 1979-05-27T07:32:00
zoned = 1979-05-27T07:32:00-07:00
`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Plugin("p")
	for key, want := range map[string]string{
		"s":     "plain <text>",
		"n":     "42",
		"f":     "1.5",
		"b":     "true",
		"arr":   `[1,"a",{"x":1}]`,
		"tbl":   `{"x":1,"y":"<y>"}`,
		"date":  `"1979-05-27"`,
		"time":  `"07:32:00"`,
		"local": `"1979-05-27T07:32:00"`,
		"zoned": `"1979-05-27T07:32:00-07:00"`,
	} {
		got, ok := p.ConfigText(key)
		if !ok || got != want {
			t.Errorf("ConfigText(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
	if _, ok := p.ConfigText("absent"); ok {
		t.Errorf("ConfigText(absent) found something")
	}
}

func TestResolvePaths(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "x.wasm")
	c, err := Parse(filepath.Join("deploy", "config.toml"), []byte(`
[host]
data_dir = "/var/lib/evhost"
[plugins.rel]
path = "plugins/rel"
events = ["a"]
[plugins.abs]
path = "`+filepath.ToSlash(abs)+`"
events = ["a"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Plugin("rel").ResolvedPath, filepath.Join("deploy", "plugins", "rel"); got != want {
		t.Errorf("relative path resolved to %q, want %q", got, want)
	}
	if got := c.Plugin("abs").ResolvedPath; got != abs {
		t.Errorf("absolute path resolved to %q, want it unchanged", got)
	}
	if !c.Plugin("abs").IsWasmFile() || c.Plugin("rel").IsWasmFile() {
		t.Errorf("IsWasmFile wrong")
	}
	if c.Host.ResolvedDataDir != "/var/lib/evhost" {
		t.Errorf("ResolvedDataDir %q", c.Host.ResolvedDataDir)
	}
	if c.Plugins[0].Name != "rel" || c.Plugins[1].Name != "abs" {
		t.Errorf("plugins not in file order: %s, %s", c.Plugins[0].Name, c.Plugins[1].Name)
	}
}

// TestDefaultsAnywhere checks that plugins inherit [defaults] even when the
// table comes after them, and that webhooks inherit its delivery limits.
func TestDefaultsAnywhere(t *testing.T) {
	c, err := Parse("t.toml", []byte(`
[plugins.p]
path = "p"
events = ["a"]
queue = 7

[[webhooks]]
name = "w"
events = ["a"]
url = "https://example.com"
secret = "`+whsec+`"
concurrency = 2

[defaults]
timeout = "3s"
concurrency = 9
memory = "16MiB"
`))
	if err != nil {
		t.Fatal(err)
	}
	p, w := c.Plugin("p"), c.Webhooks[0]
	if p.Timeout != 3*time.Second || p.Concurrency != 9 || p.Memory != 16*MiB || p.Queue != 7 {
		t.Errorf("plugin limits %+v", p.Limits)
	}
	if w.Timeout != 3*time.Second || w.Concurrency != 2 || w.Queue != 1024 || !w.Enabled {
		t.Errorf("webhook %+v", w)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"timeout", "memory", "max_attempts", "events", "emits"}
	for k, want := range map[string]string{
		"timout": "timeout", "memroy": "memory", "max_attemps": "max_attempts",
		"Events": "events", "limits": "", "x": "",
	} {
		if got := suggest(k, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", k, got, want)
		}
	}
}

// ConfigTextNow reads a config_file value from its file again (a build
// rewrote a JavaScript handler's source); ConfigText keeps the value read
// at load.
func TestConfigTextNow(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "handler.js")
	if err := os.WriteFile(src, []byte("export function handle() {}"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(filepath.Join(dir, "c.toml"), []byte("[plugins.p]\npath = \"p.wasm\"\nevents = [\"a\"]\nconfig_file = { source = \"handler.js\" }\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Plugin("p")
	if err := os.WriteFile(src, []byte("export function handle() { return 2 }"), 0o644); err != nil {
		t.Fatal(err)
	}
	if v, _ := p.ConfigText("source"); v != "export function handle() {}" {
		t.Errorf("ConfigText = %q, want the value read at load", v)
	}
	if v, ok, err := p.ConfigTextNow("source"); err != nil || !ok || v != "export function handle() { return 2 }" {
		t.Errorf("ConfigTextNow = %q, %v, %v; want the file's new text", v, ok, err)
	}
	os.Remove(src)
	if _, _, err := p.ConfigTextNow("source"); err == nil {
		t.Error("ConfigTextNow of a removed file: no error")
	}
}
