package config

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/evhost/evhost/host/api"
)

// Effective returns the configuration c as the daemon runs it, for `evhost
// config` and GET /v1/admin/config: every key with its value, defaults
// filled in, relative paths resolved, and no secret in it.
//
// A secret key shows where its value comes from and never the value: an
// inline one as KEY = "[redacted]", one from the environment as KEY_env =
// "NAME", one from a file as KEY_file = "PATH" (and a plugin's config_env
// and config_file likewise). The values of [tracing] headers and of
// webhook headers are redacted too (they carry API keys), and so are the
// query values and passwords of URLs, as the API shows them. A plugin's
// config and env values are shown as written: secrets belong in
// config_env and config_file.
//
// The document renders as TOML (Document.TOML), which Parse reads back
// into the same configuration but for the redacted values, and as JSON (it
// is a json.Marshaler), its keys in the order of config.toml.
func (c *Config) Effective() *Document {
	d := &Document{}
	d.setTable("host", effectiveHost(&c.Host))
	d.setTable("broker", effectiveBroker(&c.Broker))
	d.setTable("tracing", effectiveTracing(&c.Tracing))
	d.setTable("deploy", effectiveDeploy(&c.Deploy))
	def := &Document{}
	effectiveLimits(def, c.Defaults)
	d.setTable("defaults", def)
	plugins := &Document{}
	for i := range c.Plugins {
		plugins.setTable(c.Plugins[i].Name, effectivePlugin(&c.Plugins[i]))
	}
	d.setTable("plugins", plugins)
	hooks := make([]*Document, 0, len(c.Webhooks))
	for i := range c.Webhooks {
		hooks = append(hooks, effectiveWebhook(&c.Webhooks[i]))
	}
	d.setArray("webhooks", hooks)
	scheds := make([]*Document, 0, len(c.Schedules))
	for i := range c.Schedules {
		scheds = append(scheds, effectiveSchedule(&c.Schedules[i]))
	}
	d.setArray("schedules", scheds)
	d.setTable("delayed", effectiveDelayed(c))
	d.setTable("sources", effectiveSources(&c.Sources))
	return d
}

func effectiveSchedule(s *Schedule) *Document {
	d := &Document{}
	d.set("name", s.Name)
	d.set("enabled", s.Enabled)
	d.setIf("cron", s.Cron)
	if s.Every > 0 {
		d.set("every", dur(s.Every))
	}
	if s.Cron != "" { // every counts from the epoch: no zone
		tz := s.Timezone
		if tz == "" {
			tz = "UTC"
		}
		d.set("timezone", tz)
	}
	d.set("type", s.Type)
	src := s.Source
	if src == "" {
		src = "evhost://schedule/" + s.Name
	}
	d.set("source", src)
	d.setIf("subject", s.Subject)
	if s.Data != nil {
		d.set("data", string(s.Data))
	}
	d.setIf("datacontenttype", s.DataContentType)
	d.set("catch_up", s.CatchUp)
	return d
}

// effectiveDelayed is [delayed] with its zeros resolved as the broker
// resolves them: 30 days, never past [broker] max_age; 100000 pending.
func effectiveDelayed(c *Config) *Document {
	d := &Document{}
	maxDelay := c.Delayed.MaxDelay
	if maxDelay == 0 {
		maxDelay = 30 * 24 * time.Hour
	}
	if c.Broker.MaxAge > 0 && maxDelay > c.Broker.MaxAge {
		maxDelay = c.Broker.MaxAge
	}
	pending := c.Delayed.MaxPending
	if pending == 0 {
		pending = 100000
	}
	d.set("max_delay", dur(maxDelay))
	d.set("max_pending", pending)
	return d
}

func effectiveHost(h *Host) *Document {
	d := &Document{}
	d.set("listen", h.Listen)
	d.set("data_dir", h.Data())
	d.secret("token", h.Token)
	d.set("max_body", h.MaxBody.String())
	d.set("read_header_timeout", dur(h.HTTP.ReadHeaderTimeout))
	d.set("read_timeout", dur(h.HTTP.ReadTimeout))
	d.set("write_timeout", dur(h.HTTP.WriteTimeout))
	d.set("idle_timeout", dur(h.HTTP.IdleTimeout))
	d.set("max_header_bytes", h.HTTP.MaxHeaderBytes.String())
	d.set("max_batch", h.HTTP.MaxBatch)
	d.set("shutdown_timeout", dur(h.ShutdownTimeout))
	d.set("compiled_cache", h.CompiledCache.String())
	d.set("memory_reserve", h.MemoryReserve.String())
	d.set("log_format", h.LogFormat)
	d.set("log_level", strings.ToLower(h.LogLevel.String()))
	nets := make([]string, 0, len(h.AllowNetworks))
	for _, p := range h.AllowNetworks {
		nets = append(nets, p.String())
	}
	d.set("allow_networks", nets)
	d.set("hostnames", orEmpty(h.Hostnames))
	d.set("trusted_origins", orEmpty(h.TrustedOrigins))
	d.set("protect_metrics", h.ProtectMetrics)
	d.set("debug_listen", h.DebugListen)
	if h.TLS != (HostTLS{}) {
		t := &Document{}
		t.set("cert_file", h.TLS.CertFile)
		t.set("key_file", h.TLS.KeyFile)
		t.setIf("client_ca_file", h.TLS.ClientCAFile)
		d.setTable("tls", t)
	}
	toks := make([]*Document, 0, len(h.Tokens))
	for _, tok := range h.Tokens {
		t := &Document{}
		t.set("name", tok.Name)
		t.secret("token", tok.Token)
		t.set("scopes", orEmpty(tok.Scopes))
		if tok.Events != nil {
			t.set("events", tok.Events)
		}
		toks = append(toks, t)
	}
	d.setArray("tokens", toks)
	return d
}

func effectiveBroker(b *Broker) *Document {
	d := &Document{}
	d.set("kind", b.Kind)
	d.set("max_age", dur(b.MaxAge))
	d.set("max_bytes", b.MaxBytes.String())
	d.set("dedup_window", dur(b.DedupWindow))
	d.set("runs_max_age", dur(b.RunsMaxAge))
	d.set("prefix", b.Prefix)
	d.set("replicas", b.Replicas)
	switch b.Kind {
	case BrokerEmbedded:
		d.set("fsync", b.Fsync)
		d.set("sync_interval", dur(b.SyncInterval))
		d.set("listen", b.Listen)
		if a := b.ListenAuth; a.IsSet() {
			t := &Document{}
			t.setIf("user", a.User)
			t.secret("password", a.Password)
			t.secret("token", a.Token)
			t.setIf("nkey", a.NKey)
			t.secret("nkey_seed", a.NKeySeed)
			d.setTable("listen_auth", t)
		}
		if l := b.ListenTLS; l.IsSet() {
			t := &Document{}
			for _, f := range [][2]string{{"cert_file", l.CertFile}, {"key_file", l.KeyFile}, {"client_ca_file", l.ClientCAFile},
				{"ca_file", l.CAFile}, {"client_cert_file", l.ClientCertFile}, {"client_key_file", l.ClientKeyFile}} {
				t.setIf(f[0], f[1])
			}
			d.setTable("listen_tls", t)
		}
	case BrokerNATS:
		urls := strings.Split(b.URL, ",")
		for i, u := range urls {
			urls[i] = api.RedactURL(strings.TrimSpace(u))
		}
		d.set("url", strings.Join(urls, ","))
		d.setIf("creds_file", b.CredsFile)
		d.setIf("user", b.User)
		d.secret("password", b.Password)
		d.secret("token", b.Token)
		if b.TLS != (BrokerTLS{}) {
			t := &Document{}
			t.setIf("ca_file", b.TLS.CAFile)
			t.setIf("cert_file", b.TLS.CertFile)
			t.setIf("key_file", b.TLS.KeyFile)
			d.setTable("tls", t)
		}
	}
	return d
}

func effectiveTracing(t *Tracing) *Document {
	d := &Document{}
	d.set("enabled", t.Enabled)
	d.set("endpoint", api.RedactURL(t.Endpoint))
	d.set("headers", redactedValues(t.Headers))
	d.set("service_name", t.ServiceName)
	d.set("sample_ratio", t.SampleRatio)
	d.set("timeout", dur(t.Timeout))
	return d
}

func effectiveDeploy(dp *Deploy) *Document {
	d := &Document{}
	keys := make([]string, 0, len(dp.PublicKeys))
	for _, k := range dp.PublicKeys {
		keys = append(keys, encodePublicKey(k))
	}
	d.set("public_keys", keys)
	d.set("allow_env", orEmpty(dp.AllowEnv))
	d.set("allow_files", orEmpty(dp.AllowFiles))
	return d
}

func effectiveDelivery(d *Document, l DeliveryLimits) {
	d.set("timeout", dur(l.Timeout))
	d.set("concurrency", l.Concurrency)
	d.set("queue", l.Queue)
	d.set("max_attempts", l.MaxAttempts)
	d.set("backoff", dur(l.Backoff))
	d.set("max_backoff", dur(l.MaxBackoff))
	d.set("ack_wait", dur(l.AckWait))
}

func effectiveLimits(d *Document, l Limits) {
	effectiveDelivery(d, l.DeliveryLimits)
	d.set("memory", l.Memory.String())
	d.set("max_emits", l.MaxEmits)
	d.set("max_emit_bytes", l.MaxEmitBytes.String())
	d.set("max_depth", l.MaxDepth)
	d.set("max_log_bytes", l.MaxLogBytes.String())
	d.set("min_instances", l.MinInstances)
	d.set("max_instances", l.MaxInstances)
	d.set("max_calls", l.MaxCalls)
	d.set("max_age", dur(l.MaxAge))
	d.set("idle_timeout", dur(l.IdleTimeout))
}

func effectivePlugin(p *Plugin) *Document {
	d := &Document{}
	path := p.ResolvedPath
	if p.Digest != "" {
		path = DigestPrefix + p.Digest
	}
	d.set("path", path)
	d.set("enabled", p.Enabled)
	d.set("paused", p.Paused)
	d.setIf("filter", p.Filter)
	d.set("events", orEmpty(p.Events))
	if p.Emits != nil {
		d.set("emits", p.Emits)
	}
	effectiveLimits(d, p.Limits)
	plain, fromEnv, fromFile := map[string]any{}, map[string]string{}, map[string]string{}
	for k, v := range p.Config {
		s, ok := v.(Secret)
		if !ok {
			plain[k] = v
			continue
		}
		switch kind, ref, _ := strings.Cut(s.Source(), " "); kind {
		case "env":
			fromEnv[k] = ref
		case "file":
			fromFile[k] = ref
		default:
			plain[k] = redacted
		}
	}
	if len(plain) > 0 {
		d.set("config", plain)
	}
	if len(fromEnv) > 0 {
		d.set("config_env", fromEnv)
	}
	if len(fromFile) > 0 {
		d.set("config_file", fromFile)
	}
	if len(p.Env) > 0 {
		d.set("env", p.Env)
	}
	d.set("allowed_hosts", orEmpty(p.AllowedHosts))
	if p.KV.Enabled {
		d.set("kv", map[string]any{"max_value_bytes": p.KV.MaxValueBytes.String(), "max_bytes": p.KV.MaxBytes.String()})
	} else {
		d.set("kv", false)
	}
	if p.Build.Command != "" {
		d.set("build", p.Build.Command)
		d.set("build_dir", p.Build.ResolvedDir)
		d.set("watch", orEmpty(p.Build.ResolvedWatch))
		t := p.Build.Timeout
		if t == 0 {
			t = DefaultBuildTimeout
		}
		d.set("build_timeout", dur(t))
	}
	return d
}

func effectiveWebhook(w *Webhook) *Document {
	d := &Document{}
	d.set("name", w.Name)
	d.set("enabled", w.Enabled)
	d.set("paused", w.Paused)
	d.setIf("filter", w.Filter)
	d.set("events", orEmpty(w.Events))
	d.set("url", api.RedactURL(w.URL))
	d.secret("secret", w.Secret)
	d.set("headers", redactedValues(w.Headers))
	effectiveDelivery(d, w.DeliveryLimits)
	return d
}

// encodePublicKey renders k as [deploy] public_keys takes it: the base64
// of its DER form.
func encodePublicKey(k ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "invalid key"
	}
	return base64.StdEncoding.EncodeToString(der)
}

// redactedValues returns m's keys, each with the value redacted.
func redactedValues(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = redacted
	}
	return out
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// dur formats a duration as config.toml writes it: "168h" rather than
// "168h0m0s".
func dur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Document is an effective configuration (see Config.Effective): tables
// of keys in a fixed order.
type Document struct {
	keys []string
	vals map[string]any // a scalar, []string, map[string]string, map[string]any, *Document, or []*Document
}

func (d *Document) set(key string, v any) {
	if d.vals == nil {
		d.vals = map[string]any{}
	}
	if _, dup := d.vals[key]; !dup {
		d.keys = append(d.keys, key)
	}
	d.vals[key] = v
}

func (d *Document) setIf(key, v string) {
	if v != "" {
		d.set(key, v)
	}
}

func (d *Document) setTable(key string, t *Document) { d.set(key, t) }

func (d *Document) setArray(key string, ts []*Document) { d.set(key, ts) }

// secret sets the variant of key that says where s comes from, if s is set.
func (d *Document) secret(key string, s Secret) {
	switch kind, ref, _ := strings.Cut(s.Source(), " "); kind {
	case "":
	case "env":
		d.set(key+"_env", ref)
	case "file":
		d.set(key+"_file", ref)
	default:
		d.set(key, redacted)
	}
}

// MarshalJSON renders the document as a JSON object, its keys in order.
func (d *Document) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range d.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		v := d.vals[k]
		if m, ok := v.(map[string]any); ok {
			j, err := jsonValue(m)
			if err != nil {
				return nil, err
			}
			v = j
		}
		vb, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// TOML renders the document as a TOML file: the scalars of each table
// first, then its sub-tables, then its arrays of tables.
func (d *Document) TOML() []byte {
	var b bytes.Buffer
	b.WriteString("# The effective configuration: every default filled in, secrets redacted\n" +
		"# (KEY_env and KEY_file name where a secret is read from).\n")
	d.writeTOML(&b, "")
	return b.Bytes()
}

func (d *Document) writeTOML(b *bytes.Buffer, prefix string) {
	for _, k := range d.keys {
		switch d.vals[k].(type) {
		case *Document, []*Document:
			continue
		}
		fmt.Fprintf(b, "%s = %s\n", tomlKey(k), tomlValue(d.vals[k]))
	}
	for _, k := range d.keys {
		if t, ok := d.vals[k].(*Document); ok {
			name := prefix + tomlKey(k)
			if t.hasScalars() || len(t.keys) == 0 {
				fmt.Fprintf(b, "\n[%s]\n", name)
			}
			t.writeTOML(b, name+".")
		}
	}
	for _, k := range d.keys {
		if ts, ok := d.vals[k].([]*Document); ok {
			for _, t := range ts {
				fmt.Fprintf(b, "\n[[%s]]\n", prefix+tomlKey(k))
				t.writeTOML(b, prefix+tomlKey(k)+".")
			}
		}
	}
}

func (d *Document) hasScalars() bool {
	for _, k := range d.keys {
		switch d.vals[k].(type) {
		case *Document, []*Document:
		default:
			return true
		}
	}
	return false
}

// tomlKey quotes k unless it is a bare key.
func tomlKey(k string) string {
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return strconv.Quote(k)
		}
	}
	if k == "" {
		return `""`
	}
	return k
}

// tomlValue renders a value inline.
func tomlValue(v any) string {
	switch v := v.(type) {
	case string:
		return tomlString(v)
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		s := strconv.FormatFloat(v, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return s
	case time.Time:
		if layout, ok := localLayouts[v.Location().String()]; ok {
			return v.Format(layout)
		}
		return v.Format(time.RFC3339Nano)
	case Secret:
		return tomlString(redacted)
	case []string:
		parts := make([]string, len(v))
		for i, s := range v {
			parts[i] = tomlString(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = tomlValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []map[string]any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = tomlValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]string:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = e
		}
		return tomlValue(m)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = tomlKey(k) + " = " + tomlValue(v[k])
		}
		if len(parts) == 0 {
			return "{}"
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	return tomlString(fmt.Sprint(v))
}

// tomlString renders s as a TOML basic string (JSON's escapes are TOML's).
func tomlString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// effectiveSources is [sources] with its secrets, passwords and tokens
// shown by where they come from, never their values.
func effectiveSources(s *Sources) *Document {
	d := &Document{}
	hooks := make([]*Document, 0, len(s.Webhooks))
	for i := range s.Webhooks {
		w := &s.Webhooks[i]
		h := &Document{}
		h.set("name", w.Name)
		h.set("enabled", w.Enabled)
		h.set("path", w.Path)
		h.set("verify", w.Verify)
		h.secretList(w.Secrets)
		h.setIf("header", w.Header)
		h.setIf("encoding", w.Encoding)
		h.setIf("prefix", w.Prefix)
		if w.Tolerance > 0 {
			h.set("tolerance", dur(w.Tolerance))
		}
		for _, kv := range [][2]string{{"type", w.Type}, {"type_header", w.TypeHeader}, {"type_field", w.TypeField},
			{"type_prefix", w.TypePrefix}, {"id_header", w.IDHeader}, {"id_field", w.IDField}, {"source", w.Source}} {
			h.setIf(kv[0], kv[1])
		}
		h.set("extension_headers", orEmpty(w.ExtensionHeaders))
		h.set("max_body", w.MaxBody.String())
		hooks = append(hooks, h)
	}
	d.setArray("webhooks", hooks)
	subs := make([]*Document, 0, len(s.NATS))
	for i := range s.NATS {
		n := &s.NATS[i]
		t := &Document{}
		t.set("name", n.Name)
		t.set("enabled", n.Enabled)
		t.set("subject", n.Subject)
		t.setIf("url", api.RedactURL(n.URL))
		t.setIf("creds_file", n.CredsFile)
		t.setIf("user", n.User)
		t.secret("password", n.Password)
		t.secret("token", n.Token)
		if n.TLS != (BrokerTLS{}) {
			tls := &Document{}
			tls.setIf("ca_file", n.TLS.CAFile)
			tls.setIf("cert_file", n.TLS.CertFile)
			tls.setIf("key_file", n.TLS.KeyFile)
			t.setTable("tls", tls)
		}
		t.setIf("stream", n.Stream)
		t.setIf("deliver", n.Deliver)
		if n.AckWait > 0 {
			t.set("ack_wait", dur(n.AckWait))
		}
		t.setIf("type", n.Type)
		t.set("type_from_subject", n.TypeFromSubject)
		t.setIf("type_prefix", n.TypePrefix)
		t.setIf("source", n.Source)
		t.setIf("content_type", n.ContentType)
		t.set("max_message", n.MaxMessage.String())
		subs = append(subs, t)
	}
	d.setArray("nats", subs)
	return d
}

// secretList sets the key of ss that says where its secrets come from: one
// as secret (see secret), several as secrets, secrets_env or secrets_file
// (one kind: the config takes one of them).
func (d *Document) secretList(ss []Secret) {
	if len(ss) == 1 {
		d.secret("secret", ss[0])
		return
	}
	key, vals := "secrets", make([]string, 0, len(ss))
	for _, s := range ss {
		switch kind, ref, _ := strings.Cut(s.Source(), " "); kind {
		case "env":
			key, vals = "secrets_env", append(vals, ref)
		case "file":
			key, vals = "secrets_file", append(vals, ref)
		default:
			vals = append(vals, redacted)
		}
	}
	if len(vals) > 0 {
		d.set(key, vals)
	}
}
