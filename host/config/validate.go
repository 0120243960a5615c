package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/filter"
)

// Validate checks every value of c and returns an ErrorList with one *Error
// per problem (each naming its key path, such as plugins.payment.timeout), or
// nil. Load and Parse call it and add file positions; call it on a Config
// built or changed in code.
func (c *Config) Validate() error {
	if errs := c.validate(); len(errs) > 0 {
		return errs
	}
	return nil
}

// checker collects the problems of one Config.
type checker struct {
	errs ErrorList
}

func (v *checker) add(path string, err error) {
	v.errs = append(v.errs, &Error{Path: path, Err: err})
}

func (v *checker) invalid(path, format string, args ...any) {
	v.add(path, newProblem(ErrInvalid, format, args...))
}

// badKey reports a key whose name is the problem.
func (v *checker) badKey(path, format string, args ...any) {
	v.add(path, &problem{kind: ErrInvalid, msg: fmt.Sprintf(format, args...), onKey: true})
}

func (v *checker) missing(path, format string, args ...any) {
	v.add(path, newProblem(ErrMissing, format, args...))
}

func (c *Config) validate() ErrorList {
	v := &checker{}
	v.host(&c.Host)
	v.hostAccess(&c.Host)
	v.broker(&c.Broker)
	v.tracing(&c.Tracing)

	defaults := checkLimits(c.Defaults)
	v.limits("defaults", defaults, nil)

	names := map[string]string{} // subscription name -> path of its first use
	for i := range c.Plugins {
		p := &c.Plugins[i]
		path := keyPath("plugins", p.Name)
		if !validName(p.Name) {
			v.badKey(path, "invalid plugin name %q: use 1 to 64 of A-Z, a-z, 0-9, '_' and '-'", p.Name)
		}
		if first, dup := names[p.Name]; dup {
			v.invalid(path, "name %q is already used by %s", p.Name, first)
		} else {
			names[p.Name] = path
		}
		v.plugin(path, p, defaults)
	}
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		path := indexPath("webhooks", i)
		switch first, dup := names[w.Name]; {
		case w.Name == "":
			v.missing(keyPath(path, "name"), "missing: every webhook needs a name")
		case !validName(w.Name):
			v.invalid(keyPath(path, "name"), "invalid webhook name %q: use 1 to 64 of A-Z, a-z, 0-9, '_' and '-'", w.Name)
		case dup:
			v.invalid(keyPath(path, "name"), "name %q is already used by %s", w.Name, first)
		default:
			names[w.Name] = path
		}
		v.webhook(path, w, defaults)
	}
	v.schedules(c)
	v.sources(&c.Sources)
	v.natsBrokerSubjects(c)
	return v.errs
}

func (v *checker) host(h *Host) {
	if err := checkListen(h.Listen); err != nil {
		v.invalid("host.listen", "invalid listen address %q: %v", h.Listen, err)
	}
	if h.DataDir == "" {
		v.missing("host.data_dir", "missing: the directory for the daemon's data")
	}
	if h.MaxBody < 1 {
		v.invalid("host.max_body", "invalid max_body %v: must be positive", h.MaxBody)
	}
	if h.ShutdownTimeout <= 0 {
		v.invalid("host.shutdown_timeout", "invalid shutdown_timeout %v: must be positive", h.ShutdownTimeout)
	}
	if h.MemoryReserve < 0 {
		v.invalid("host.memory_reserve", "invalid memory_reserve %v: must not be negative (0 keeps none)", h.MemoryReserve)
	}
	if h.CompiledCache < 0 {
		v.invalid("host.compiled_cache", "invalid compiled_cache %v: must not be negative (0 means no bound)", h.CompiledCache)
	}
	if h.LogFormat != "text" && h.LogFormat != "json" {
		v.invalid("host.log_format", "invalid log_format %q (want text or json)", h.LogFormat)
	}
}

func (v *checker) tracing(t *Tracing) {
	if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.invalid("tracing.endpoint", "invalid endpoint %q: want the http(s) URL of an OTLP/HTTP traces receiver, such as \"http://127.0.0.1:4318/v1/traces\"", t.Endpoint)
	}
	if t.ServiceName == "" {
		v.missing("tracing.service_name", "missing: service_name must not be empty")
	}
	if !(t.SampleRatio >= 0 && t.SampleRatio <= 1) {
		v.invalid("tracing.sample_ratio", "invalid sample_ratio %v: want a number from 0 to 1", t.SampleRatio)
	}
	if t.Timeout <= 0 {
		v.invalid("tracing.timeout", "invalid timeout %v: must be positive", t.Timeout)
	}
	for k := range t.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			v.invalid("tracing.headers", "invalid header name %q", k)
		}
	}
}

func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

func (v *checker) broker(b *Broker) {
	switch b.Kind {
	case BrokerMemory, BrokerEmbedded:
		if b.URL != "" {
			v.invalid("broker.url", "url is used only with kind = %q", BrokerNATS)
		}
		for _, k := range []struct {
			key string
			set bool
		}{
			{"creds_file", b.CredsFile != ""}, {"user", b.User != ""}, {"password", b.Password.IsSet()},
			{"token", b.Token.IsSet()}, {"tls", b.TLS != (BrokerTLS{})},
		} {
			if k.set {
				v.invalid("broker."+k.key, "%s is used only with kind = %q", k.key, BrokerNATS)
			}
		}
	case BrokerNATS:
		if b.URL == "" {
			v.missing("broker.url", "missing: kind = %q needs the url of the NATS servers", BrokerNATS)
		}
		for _, u := range strings.Split(b.URL, ",") {
			if b.URL == "" {
				break
			}
			if err := checkNATSURL(strings.TrimSpace(u)); err != nil {
				v.invalid("broker.url", "invalid url %q: %v", strings.TrimSpace(u), err)
			}
		}
		n := 0
		for _, set := range []bool{b.CredsFile != "", b.User != "", b.Token.IsSet()} {
			if set {
				n++
			}
		}
		if n > 1 {
			v.invalid("broker.token", "set at most one of creds_file, user and token")
		}
		if b.Password.IsSet() && b.User == "" {
			v.invalid("broker.password", "password needs user")
		}
		if (b.TLS.CertFile == "") != (b.TLS.KeyFile == "") {
			v.invalid("broker.tls", "set both cert_file and key_file, or neither")
		}
		if b.Listen != "" {
			v.invalid("broker.listen", "listen is used only with kind = %q", BrokerEmbedded)
		}
	default:
		v.invalid("broker.kind", "invalid broker kind %q (want %s, %s or %s)",
			b.Kind, BrokerEmbedded, BrokerNATS, BrokerMemory)
	}
	if b.Listen != "" && b.Kind == BrokerEmbedded {
		if err := checkListen(b.Listen); err != nil {
			v.invalid("broker.listen", "invalid listen %q: %v", b.Listen, err)
		}
	}
	switch b.Fsync {
	case FsyncInterval, FsyncAlways:
	default:
		v.invalid("broker.fsync", "invalid fsync %q (want %q or %q)", b.Fsync, FsyncInterval, FsyncAlways)
	}
	if b.SyncInterval <= 0 {
		v.invalid("broker.sync_interval", "invalid sync_interval %v: must be positive", b.SyncInterval)
	}
	if b.MaxAge < 0 {
		v.invalid("broker.max_age", "invalid max_age %v: must not be negative", b.MaxAge)
	}
	if b.DedupWindow <= 0 {
		v.invalid("broker.dedup_window", "invalid dedup_window %v: must be positive", b.DedupWindow)
	} else if b.MaxAge > 0 && b.DedupWindow > b.MaxAge {
		v.invalid("broker.dedup_window", "dedup_window %v is longer than max_age %v", b.DedupWindow, b.MaxAge)
	}
	if b.Replicas < 0 || b.Replicas > 5 {
		v.invalid("broker.replicas", "invalid replicas %d: want 0 (the default) to 5", b.Replicas)
	}
	if !validPrefix(b.Prefix) {
		v.invalid("broker.prefix", "invalid prefix %q: want 1 to 32 characters of A-Z, a-z, 0-9, '_' and '-'", b.Prefix)
	}
	if b.RunsMaxAge < 0 {
		v.invalid("broker.runs_max_age", "invalid runs_max_age %v: must not be negative", b.RunsMaxAge)
	}
	v.listenerSecurity(b)
}

func validPrefix(p string) bool {
	if len(p) < 1 || len(p) > 32 {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func checkNATSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("scheme must be nats, tls, ws or wss")
	}
	if u.Host == "" {
		return fmt.Errorf("no host")
	}
	return nil
}

// limitErr is a problem with one key of a Limits, before it has a path;
// alt names the other key of a problem between two.
type limitErr struct {
	key, alt string
	err      error
}

// checkLimits returns the problems of l. Plugins and webhooks inherit the
// [defaults], so a plugin's problem that [defaults] has too is reported once,
// at [defaults].
func checkLimits(l Limits) []limitErr {
	var errs []limitErr
	bad := func(key, format string, args ...any) {
		errs = append(errs, limitErr{key: key, err: newProblem(ErrInvalid, format, args...)})
	}
	badPair := func(key, alt, format string, args ...any) {
		errs = append(errs, limitErr{key: key, alt: alt, err: newProblem(ErrInvalid, format, args...)})
	}
	atLeast := func(key string, n, low int) {
		if n < low {
			bad(key, "invalid %s %d: must be at least %d", key, n, low)
		}
	}
	nonNegative := func(key string, d time.Duration) {
		if d < 0 {
			bad(key, "invalid %s %v: must not be negative", key, d)
		}
	}

	if l.Timeout <= 0 {
		bad("timeout", "invalid timeout %v: must be positive", l.Timeout)
	}
	atLeast("concurrency", l.Concurrency, 1)
	atLeast("queue", l.Queue, 1)
	atLeast("max_attempts", l.MaxAttempts, 1)
	nonNegative("backoff", l.Backoff)
	nonNegative("max_backoff", l.MaxBackoff)
	if l.AckWait < time.Second {
		bad("ack_wait", "invalid ack_wait %v: must be at least 1s", l.AckWait)
	}
	if l.MaxBackoff < l.Backoff && l.MaxBackoff >= 0 {
		badPair("max_backoff", "backoff", "invalid max_backoff %v: less than backoff %v", l.MaxBackoff, l.Backoff)
	}

	const page, maxMemory = 64 * KiB, 2 * GiB
	if l.Memory < page || l.Memory >= maxMemory {
		bad("memory", "invalid memory %v: must be at least 64KiB (one wasm page) and below 2GiB", l.Memory)
	}
	atLeast("max_emits", l.MaxEmits, 0)
	if l.MaxEmitBytes < 1 || l.MaxEmitBytes > GiB {
		bad("max_emit_bytes", "invalid max_emit_bytes %v: must be at least 1B and at most 1GiB", l.MaxEmitBytes)
	}
	atLeast("max_depth", l.MaxDepth, 1)
	if l.MaxLogBytes < 0 {
		bad("max_log_bytes", "invalid max_log_bytes %v: must not be negative", l.MaxLogBytes)
	}
	atLeast("min_instances", l.MinInstances, 0)
	atLeast("max_instances", l.MaxInstances, 0)
	if l.MaxInstances > 0 && l.MaxInstances < l.MinInstances {
		badPair("max_instances", "min_instances", "invalid max_instances %d: less than min_instances %d", l.MaxInstances, l.MinInstances)
	}
	atLeast("max_calls", l.MaxCalls, 0)
	nonNegative("max_age", l.MaxAge)
	if l.IdleTimeout != 0 && l.IdleTimeout < time.Second {
		bad("idle_timeout", "invalid idle_timeout %v: must be at least 1s, or 0s for never", l.IdleTimeout)
	}
	return errs
}

// limits reports errs under path, except those that inherited has too.
func (v *checker) limits(path string, errs, inherited []limitErr) {
next:
	for _, e := range errs {
		for _, in := range inherited {
			if in.key == e.key && in.err.Error() == e.err.Error() {
				continue next
			}
		}
		if p, ok := e.err.(*problem); ok && e.alt != "" {
			q := *p
			q.alt = keyPath(path, e.alt)
			e.err = &q
		}
		v.add(keyPath(path, e.key), e.err)
	}
}

func (v *checker) plugin(path string, p *Plugin, defaults []limitErr) {
	switch {
	case p.Engine != "" && p.Engine != EngineJS:
		v.invalid(keyPath(path, "engine"), "invalid engine %q: the one engine evhost provides is %q (JavaScript)", p.Engine, EngineJS)
	case p.Engine != "" && p.Path != "":
		v.invalid(keyPath(path, "engine"), "engine with path: the plugin runs evhost's engine or the module at path, not both")
	case p.Engine != "":
		if _, ok := p.Config["source"]; !ok {
			v.missing(keyPath(path, "config"), `missing: the handler's source for engine = "js", the config value source (e.g. config_file = { source = "dist/handler.js" })`)
		}
	case p.Path == "":
		v.missing(keyPath(path, "path"), "missing: the plugin's .wasm file or Go package directory")
	case strings.HasPrefix(p.Path, DigestPrefix) && !ValidDigest(p.Digest):
		v.invalid(keyPath(path, "path"), "invalid digest %q: want %s and 64 lowercase hex digits (a file whose name starts so: write ./%s)", p.Path, DigestPrefix, p.Path)
	}
	v.patterns(keyPath(path, "events"), p.Events, true, "the event types the plugin handles")
	v.filter(keyPath(path, "filter"), p.Filter)
	v.flow(path, &p.Flow)
	v.patterns(keyPath(path, "emits"), p.Emits, false, "")
	v.pluginBuild(path, p)
	v.limits(path, checkLimits(p.Limits), defaults)
	for k, val := range p.Config {
		if err := checkRenderable(val); err != nil {
			v.add(keyPath(keyPath(path, "config"), k), err)
		}
	}
	for name, val := range p.Env {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			v.badKey(keyPath(keyPath(path, "env"), name), "invalid environment variable name %q", name)
		}
		if strings.ContainsRune(val, 0) {
			v.invalid(keyPath(keyPath(path, "env"), name), "invalid value: contains a NUL byte")
		}
	}
	for i, h := range p.AllowedHosts {
		if err := checkHost(h); err != nil {
			v.invalid(indexPath(keyPath(path, "allowed_hosts"), i), "invalid host %q: %v", h, err)
		}
	}
	if kv := keyPath(path, "kv"); p.KV.Enabled {
		if p.KV.MaxValueBytes < 1 {
			v.invalid(keyPath(kv, "max_value_bytes"), "invalid max_value_bytes %v: must be positive", p.KV.MaxValueBytes)
		}
		if p.KV.MaxBytes < p.KV.MaxValueBytes {
			v.invalid(keyPath(kv, "max_bytes"), "invalid max_bytes %v: less than max_value_bytes %v", p.KV.MaxBytes, p.KV.MaxValueBytes)
		}
	}
}

// reservedHeaders are the headers that a webhook delivery sets itself.
var reservedHeaders = map[string]bool{
	"content-type": true, "content-length": true, "host": true,
	"webhook-id": true, "webhook-timestamp": true, "webhook-signature": true,
}

func (v *checker) webhook(path string, w *Webhook, defaults []limitErr) {
	v.patterns(keyPath(path, "events"), w.Events, true, "the event types delivered to the endpoint")
	v.filter(keyPath(path, "filter"), w.Filter)
	v.flow(path, &w.Flow)
	if w.URL == "" {
		v.missing(keyPath(path, "url"), "missing: the endpoint's http or https URL")
	} else if err := checkWebhookURL(w.URL); err != nil {
		v.invalid(keyPath(path, "url"), "invalid url %q: %v", api.RedactURL(w.URL), api.RedactURLError(err))
	}
	if !w.Secret.IsSet() {
		v.missing(keyPath(path, "secret"), "missing: set secret, secret_env or secret_file to a whsec_ signing secret")
	} else if err := checkWebhookSecret(w.Secret.Value()); err != nil {
		v.invalid(keyPath(path, secretKey("secret", w.Secret)), "invalid secret: %v", err)
	}
	for name, val := range w.Headers {
		hp := keyPath(keyPath(path, "headers"), name)
		switch {
		case !validHeaderName(name):
			v.badKey(hp, "invalid header name %q", name)
		case reservedHeaders[strings.ToLower(name)] || strings.HasPrefix(strings.ToLower(name), "webhook-"):
			v.badKey(hp, "header %s is set by the delivery itself", name)
		case strings.ContainsAny(val, "\r\n\x00"):
			v.invalid(hp, "invalid header value: contains a line break or a NUL byte")
		}
	}
	v.limits(path, checkLimits(Limits{DeliveryLimits: w.DeliveryLimits, GuestLimits: DefaultLimits().GuestLimits}), defaults)
}

// filter checks a filter expression, if any.
func (v *checker) filter(path, expr string) {
	if expr == "" {
		return
	}
	if _, err := filter.Compile(expr); err != nil {
		v.invalid(path, "%v", err)
	}
}

// patterns checks a list of event types and patterns. required reports a
// nil or empty list, described by what.
func (v *checker) patterns(path string, list []string, required bool, what string) {
	if required && list == nil {
		v.missing(path, "missing: %s", what)
		return
	}
	if required && len(list) == 0 {
		v.invalid(path, "empty: list %s", what)
		return
	}
	for i, p := range list {
		if err := checkPattern(p); err != nil {
			v.invalid(indexPath(path, i), "invalid pattern %q: %v", p, err)
		}
	}
}

// checkPattern checks the syntax of an event type or a NATS-style pattern:
// tokens separated by dots, none empty, "*" only as a whole token (one
// token), ">" only as the whole last token (one or more tokens), and no
// whitespace or control characters. Matching belongs to the event package.
func checkPattern(p string) error {
	if p == "" {
		return fmt.Errorf("empty")
	}
	tokens := strings.Split(p, ".")
	for i, tok := range tokens {
		switch {
		case tok == "":
			return fmt.Errorf("empty token (a leading, trailing or double dot)")
		case tok == ">":
			if i != len(tokens)-1 {
				return fmt.Errorf("'>' must be the last token")
			}
		case tok == "*":
		case strings.ContainsAny(tok, "*>"):
			return fmt.Errorf("'*' and '>' must be whole tokens, as in order.* or order.>")
		}
		for _, r := range tok {
			if unicode.IsSpace(r) || unicode.IsControl(r) {
				return fmt.Errorf("contains whitespace or a control character")
			}
		}
	}
	return nil
}

// validName reports whether s can name a subscription: it becomes a NATS
// consumer name and a KV bucket name, which allow no more than this.
func validName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isBareChar(s[i]) {
			return false
		}
	}
	return true
}

// checkHost checks an allowed_hosts entry: "host", "host:port", "*.domain",
// an IP address, or "[ipv6]:port".
func checkHost(h string) error {
	if strings.Contains(h, "://") || strings.ContainsAny(h, "/?#@") {
		return fmt.Errorf("want a host name, optionally with :port, not a URL")
	}
	host := h
	if hp, port, err := net.SplitHostPort(h); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Errorf("port %q is not a number from 0 to 65535", port)
		}
		host = hp
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	name := strings.TrimPrefix(host, "*.")
	if name == "" {
		return fmt.Errorf("empty host")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("invalid host name")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("invalid character %q in host name (only '*.' may start a wildcard)", c)
			}
		}
	}
	return nil
}

// secretKey returns which of the keys base, base_env and base_file gave s.
func secretKey(base string, s Secret) string {
	switch {
	case strings.HasPrefix(s.source, "env "):
		return base + "_env"
	case strings.HasPrefix(s.source, "file "):
		return base + "_file"
	}
	return base
}

func checkWebhookURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme must be http or https")
	}
	if u.Host == "" {
		return fmt.Errorf("no host")
	}
	if u.User != nil {
		return fmt.Errorf("credentials in the URL are not allowed; use headers")
	}
	return nil
}

// checkWebhookSecret checks one or more space-separated Standard Webhooks
// secrets, without ever quoting them.
func checkWebhookSecret(s string) error {
	parts := strings.Fields(s)
	if len(parts) == 0 {
		return fmt.Errorf("empty")
	}
	for i, part := range parts {
		key, ok := strings.CutPrefix(part, "whsec_")
		if !ok {
			return fmt.Errorf("secret %d does not start with whsec_", i+1)
		}
		raw, err := base64.StdEncoding.DecodeString(key)
		if err != nil || len(raw) < 16 {
			return fmt.Errorf("secret %d is not whsec_ followed by the base64 of at least 16 bytes", i+1)
		}
	}
	return nil
}

// validHeaderName reports whether s is an HTTP header field name (an RFC 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
