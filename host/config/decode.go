package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Load reads the config file at path and returns its configuration, or an
// ErrorList with every problem in it, each with its file:line:column.
// Relative paths in the file resolve against the file's directory, made
// absolute. Load reads the environment variables and the files that secret
// keys name (see Secret), but not plugin paths: whether a plugin exists and
// builds is the daemon's business.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(path, filepath.Dir(abs), data)
}

// Parse decodes data, the content of a config file called name, as Load
// does. name prefixes error messages, and relative paths in the file resolve
// against filepath.Dir(name), as it is (relative when name is).
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, filepath.Dir(name), data)
}

// ParseIn decodes data as Parse does, but relative paths resolve against
// dir rather than the directory of name: for a config that is not a file,
// such as a deployed release, which names itself in errors ("release 7")
// and whose secret files are found beside the daemon's own config.
func ParseIn(name, dir string, data []byte) (*Config, error) {
	return parse(name, dir, data)
}

func parse(name, dir string, data []byte) (*Config, error) {
	return parseWith(name, dir, data, nil)
}

// parseWith is parse, with the policy of a release (nil: none).
func parseWith(name, dir string, data []byte, policy *ReleasePolicy) (*Config, error) {
	src := string(data)
	var tree map[string]any
	if _, err := toml.Decode(src, &tree); err != nil {
		return nil, ErrorList{syntaxError(name, src, err)}
	}
	pos := scanPositions(src)
	if r := pos.refused; r != nil {
		e := &Error{File: name, Path: r.path, Err: &problem{kind: ErrSyntax, msg: "syntax error: " + r.msg}}
		e.Line, e.Column = pos.lineCol(r.off)
		return nil, ErrorList{e}
	}
	d := &decoder{dir: dir, pos: pos, failed: map[string]bool{}, policy: policy}
	c := d.config(tree)
	c.File = name
	for _, e := range c.validate() {
		if d.failed[e.Path] { // already reported as undecodable
			continue
		}
		at, onValue := e.Path, true
		if p, ok := e.Err.(*problem); ok {
			// A problem between two keys goes where the file mentions one of them.
			if p.alt != "" && !d.pos.has(at) && d.pos.has(p.alt) {
				at = p.alt
			}
			onValue = !p.onKey
		}
		e.Line, e.Column = d.pos.locate(at, onValue)
		d.errs = append(d.errs, e)
	}
	if len(d.errs) == 0 {
		return c, nil
	}
	for _, e := range d.errs {
		e.File = name
	}
	sortErrors(d.errs)
	return nil, d.errs
}

// syntaxError turns the TOML library's error into an *Error with a position.
func syntaxError(name, src string, err error) *Error {
	e := &Error{File: name, Line: 1, Column: 1}
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		e.Err = &problem{kind: ErrSyntax, msg: "syntax error: " + err.Error(), cause: err}
		return e
	}
	e.Line, e.Column = max(pe.Position.Line, 1), max(pe.Position.Col, 1)
	// The library's column is off at line starts, and its line is sometimes
	// 0: recompute both from the byte offset when that is plausible.
	if off := pe.Position.Start; off >= 0 && off <= len(src) {
		if l, c := lineCol(lineStarts(src), off); l == pe.Position.Line || pe.Position.Line < 1 {
			e.Line, e.Column = l, c
		}
	}
	msg := strings.TrimSuffix(pe.Message, ".")
	if msg != "" && !(len(msg) > 1 && msg[1] >= 'A' && msg[1] <= 'Z') {
		msg = strings.ToLower(msg[:1]) + msg[1:]
	}
	e.Err = &problem{kind: ErrSyntax, msg: "syntax error: " + msg, cause: err}
	return e
}

// decoder walks the tree that the TOML library decoded and fills a Config.
// It reports every problem it meets instead of stopping at the first, each
// with the key path it concerns, and positions them at the end.
type decoder struct {
	dir    string // Config.Dir
	pos    *positions
	errs   ErrorList
	failed map[string]bool // paths with a decoding error; Validate's errors on them are redundant
	policy *ReleasePolicy  // what a release may read, or nil
}

// fail records a problem with the key at path, positioned at its value (or
// at its key when onKey is set).
func (d *decoder) fail(path string, onKey bool, err error) {
	d.failed[path] = true
	line, col := d.pos.locate(path, !onKey)
	d.errs = append(d.errs, &Error{Line: line, Column: col, Path: path, Err: err})
}

// table is one TOML table being decoded. Every key looked up in it is
// recorded as known, and done reports the keys that nobody looked up.
type table struct {
	d     *decoder
	path  string
	m     map[string]any
	known []string
}

func (d *decoder) table(path string, m map[string]any) *table {
	return &table{d: d, path: path, m: m}
}

// lookup returns the value of key, its path, and whether the key is present.
func (t *table) lookup(key string) (any, string, bool) {
	t.known = append(t.known, key)
	v, ok := t.m[key]
	return v, keyPath(t.path, key), ok
}

// done reports every key of t that the schema does not define.
func (t *table) done() {
	for k := range t.m {
		if slices.Contains(t.known, k) {
			continue
		}
		msg := "unknown key"
		if s := suggest(k, t.known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		t.d.fail(keyPath(t.path, k), true, newProblem(ErrUnknownKey, "%s", msg))
	}
}

// typeErr reports a value of the wrong type; reveal=false keeps the value
// itself out of the message (for secrets).
func (t *table) typeErr(path, want string, v any, reveal bool) {
	t.d.fail(path, false, newProblem(ErrType, "expected %s, found %s", want, describe(v, reveal)))
}

func (t *table) str(key string, dst *string) bool {
	v, path, ok := t.lookup(key)
	if !ok {
		return false
	}
	s, ok := v.(string)
	if !ok {
		t.typeErr(path, "a string", v, true)
		return false
	}
	*dst = s
	return true
}

func (t *table) boolean(key string, dst *bool) bool {
	v, path, ok := t.lookup(key)
	if !ok {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		t.typeErr(path, "true or false", v, true)
		return false
	}
	*dst = b
	return true
}

func (t *table) integer(key string, dst *int) bool {
	v, path, ok := t.lookup(key)
	if !ok {
		return false
	}
	n, ok := v.(int64)
	if !ok {
		t.typeErr(path, "an integer", v, true)
		return false
	}
	if n < math.MinInt || n > math.MaxInt {
		t.d.fail(path, false, newProblem(ErrInvalid, "integer %d out of range", n))
		return false
	}
	*dst = int(n)
	return true
}

// float decodes a number; an integer is taken as the float it names.
func (t *table) float(key string, dst *float64) bool {
	v, path, ok := t.lookup(key)
	if !ok {
		return false
	}
	switch n := v.(type) {
	case float64:
		*dst = n
	case int64:
		*dst = float64(n)
	default:
		t.typeErr(path, "a number", v, true)
		return false
	}
	return true
}

func (t *table) duration(key string, dst *time.Duration) bool {
	v, path, ok := t.lookup(key)
	if !ok {
		return false
	}
	s, ok := v.(string)
	if !ok {
		t.typeErr(path, `a duration string such as "5s" or "100ms"`, v, true)
		return false
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		t.d.fail(path, false, wrapProblem(ErrInvalid, err, "invalid duration %q", s))
		return false
	}
	*dst = dur
	return true
}

func (t *table) size(key string, dst *Size) bool {
	v, path, ok := t.lookup(key)
	if !ok {
		return false
	}
	switch v := v.(type) {
	case string:
		n, err := ParseSize(v)
		if err != nil {
			t.d.fail(path, false, wrapProblem(ErrInvalid, err, "invalid size %q", v))
			return false
		}
		*dst = n
	case int64:
		if v < 0 {
			t.d.fail(path, false, newProblem(ErrInvalid, "invalid size %d: negative", v))
			return false
		}
		*dst = Size(v)
	default:
		t.typeErr(path, `a size such as "64MiB" or a number of bytes`, v, true)
		return false
	}
	return true
}

func (t *table) level(key string, dst *slog.Level) bool {
	var s string
	if !t.str(key, &s) {
		return false
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		t.d.fail(keyPath(t.path, key), false,
			newProblem(ErrInvalid, "invalid log level %q (want debug, info, warn or error)", s))
		return false
	}
	*dst = l
	return true
}

// strings decodes an array of strings. An empty array gives an empty, non-nil slice.
func (t *table) strings(key string, dst *[]string) bool {
	v, path, ok := t.lookup(key)
	if !ok {
		return false
	}
	arr, ok := v.([]any)
	if !ok {
		t.typeErr(path, "an array of strings", v, true)
		return false
	}
	// A bad element leaves "" in its place, so that the others keep their
	// indexes and are still validated (Validate skips the failed paths).
	out := make([]string, len(arr))
	good := true
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			t.typeErr(indexPath(path, i), "a string", e, true)
			good = false
			continue
		}
		out[i] = s
	}
	*dst = out
	if !good {
		t.d.failed[path] = true
	}
	return good
}

// prefixes decodes an array of CIDR strings ("10.0.0.0/8", "::1/128"). An
// element that is not a valid CIDR is reported at its own position.
func (t *table) prefixes(key string, dst *[]netip.Prefix) bool {
	var ss []string
	if !t.strings(key, &ss) {
		return false
	}
	path := keyPath(t.path, key)
	out := make([]netip.Prefix, 0, len(ss))
	good := true
	for i, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			t.d.fail(indexPath(path, i), false, newProblem(ErrInvalid, "invalid network %q: want a CIDR such as \"10.0.0.0/8\"", s))
			good = false
			continue
		}
		if p != p.Masked() {
			t.d.fail(indexPath(path, i), false, newProblem(ErrInvalid, "invalid network %q: host bits set (did you mean %q?)", s, p.Masked().String()))
			good = false
			continue
		}
		out = append(out, p)
	}
	*dst = out
	return good
}

// stringMap decodes a table whose values are all strings.
func (t *table) stringMap(key string, dst *map[string]string) bool {
	v, path, ok := t.lookup(key)
	if !ok {
		return false
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.typeErr(path, "a table of strings", v, true)
		return false
	}
	out := make(map[string]string, len(m))
	good := true
	for k, e := range m {
		s, ok := e.(string)
		if !ok {
			t.typeErr(keyPath(path, k), "a string", e, true)
			good = false
			continue
		}
		out[k] = s
	}
	if !good {
		t.d.failed[path] = true
		return false
	}
	*dst = out
	return true
}

// sub returns the table under key, or nil when the key is absent or not a table.
func (t *table) sub(key string) *table {
	v, path, ok := t.lookup(key)
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.typeErr(path, "a table", v, true)
		return nil
	}
	return t.d.table(path, m)
}

// describe names the TOML type of v, with the value itself when reveal is set.
func describe(v any, reveal bool) string {
	var kind, val string
	switch v := v.(type) {
	case string:
		kind, val = "a string", fmt.Sprintf("%q", v)
		if len(val) > 40 {
			val = val[:36] + `..."`
		}
	case int64:
		kind, val = "an integer", fmt.Sprint(v)
	case float64:
		kind, val = "a float", fmt.Sprint(v)
	case bool:
		kind, val = "a boolean", fmt.Sprint(v)
	case time.Time:
		kind = "a date or time"
	case []any, []map[string]any:
		kind = "an array"
	case map[string]any:
		kind = "a table"
	default:
		kind = fmt.Sprintf("%T", v)
	}
	if reveal && val != "" {
		return kind + " " + val
	}
	return kind
}

// config decodes the whole document.
func (d *decoder) config(tree map[string]any) *Config {
	c := Default()
	c.Dir = d.dir
	root := d.table("", tree)
	if t := root.sub("host"); t != nil {
		d.host(t, &c.Host)
	}
	c.Host.ResolvedDataDir = c.Resolve(c.Host.DataDir)
	if t := root.sub("broker"); t != nil {
		d.broker(c, t, &c.Broker)
	}
	if t := root.sub("tracing"); t != nil {
		d.tracing(t, &c.Tracing)
	}
	// [defaults] first: plugins and webhooks start from it, wherever it is in the file.
	if t := root.sub("defaults"); t != nil {
		d.limits(t, &c.Defaults)
		t.done()
	}
	if t := root.sub("plugins"); t != nil {
		d.plugins(c, t)
	}
	d.webhooks(c, root)
	d.schedules(c, root)
	if t := root.sub("sources"); t != nil {
		d.sources(c, t)
	}
	if t := root.sub("deploy"); t != nil {
		d.deploy(c, t, &c.Deploy)
	}
	root.done()
	return c
}

func (d *decoder) broker(c *Config, t *table, b *Broker) {
	t.str("kind", &b.Kind)
	t.str("url", &b.URL)
	if t.str("creds_file", &b.CredsFile) && b.CredsFile != "" {
		b.CredsFile = c.Resolve(b.CredsFile)
	}
	t.str("user", &b.User)
	d.secret(t, "password", &b.Password)
	d.secret(t, "token", &b.Token)
	if tt := t.sub("tls"); tt != nil {
		for _, f := range []struct {
			key string
			dst *string
		}{{"ca_file", &b.TLS.CAFile}, {"cert_file", &b.TLS.CertFile}, {"key_file", &b.TLS.KeyFile}} {
			if tt.str(f.key, f.dst) && *f.dst != "" {
				*f.dst = c.Resolve(*f.dst)
			}
		}
		tt.done()
	}
	t.str("listen", &b.Listen)
	t.str("fsync", &b.Fsync)
	t.duration("sync_interval", &b.SyncInterval)
	t.duration("max_age", &b.MaxAge)
	t.size("max_bytes", &b.MaxBytes)
	t.duration("dedup_window", &b.DedupWindow)
	t.integer("replicas", &b.Replicas)
	t.str("prefix", &b.Prefix)
	t.duration("runs_max_age", &b.RunsMaxAge)
	d.listenerSecurity(c, t, b)
	t.done()
}

func (d *decoder) tracing(t *table, tr *Tracing) {
	t.boolean("enabled", &tr.Enabled)
	t.str("endpoint", &tr.Endpoint)
	t.stringMap("headers", &tr.Headers)
	t.str("service_name", &tr.ServiceName)
	t.float("sample_ratio", &tr.SampleRatio)
	t.duration("timeout", &tr.Timeout)
	t.done()
}

func (d *decoder) host(t *table, h *Host) {
	t.str("listen", &h.Listen)
	t.str("data_dir", &h.DataDir)
	d.secret(t, "token", &h.Token)
	t.size("max_body", &h.MaxBody)
	t.duration("shutdown_timeout", &h.ShutdownTimeout)
	t.size("compiled_cache", &h.CompiledCache)
	t.size("memory_reserve", &h.MemoryReserve)
	t.str("log_format", &h.LogFormat)
	t.level("log_level", &h.LogLevel)
	t.prefixes("allow_networks", &h.AllowNetworks)
	d.hostAccess(t, h)
	t.done()
}

// delivery decodes the keys of DeliveryLimits found in t over l.
func (d *decoder) delivery(t *table, l *DeliveryLimits) {
	t.duration("timeout", &l.Timeout)
	t.integer("concurrency", &l.Concurrency)
	t.integer("queue", &l.Queue)
	t.integer("max_attempts", &l.MaxAttempts)
	t.duration("backoff", &l.Backoff)
	t.duration("max_backoff", &l.MaxBackoff)
	t.duration("ack_wait", &l.AckWait)
}

// limits decodes the keys of Limits found in t over l.
func (d *decoder) limits(t *table, l *Limits) {
	d.delivery(t, &l.DeliveryLimits)
	t.size("memory", &l.Memory)
	t.integer("max_emits", &l.MaxEmits)
	t.size("max_emit_bytes", &l.MaxEmitBytes)
	t.integer("max_depth", &l.MaxDepth)
	t.size("max_log_bytes", &l.MaxLogBytes)
	t.integer("min_instances", &l.MinInstances)
	t.integer("max_instances", &l.MaxInstances)
	t.integer("max_calls", &l.MaxCalls)
	t.duration("max_age", &l.MaxAge)
	t.duration("idle_timeout", &l.IdleTimeout)
}

// plugins decodes [plugins.NAME] tables, in the order the file first names them.
func (d *decoder) plugins(c *Config, t *table) {
	names := make([]string, 0, len(t.m))
	for name := range t.m {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		oa, ob := d.pos.keys[keyPath(t.path, a)], d.pos.keys[keyPath(t.path, b)]
		if oa != ob {
			return oa - ob
		}
		return strings.Compare(a, b)
	})
	for _, name := range names {
		pt := t.sub(name)
		if pt == nil {
			continue
		}
		p := c.NewPlugin(name)
		pt.boolean("enabled", &p.Enabled)
		pt.boolean("paused", &p.Paused)
		pt.str("filter", &p.Filter)
		d.flow(pt, &p.Flow)
		if pt.str("path", &p.Path) {
			if digest, ok := strings.CutPrefix(p.Path, DigestPrefix); ok {
				p.Digest = digest // checked by Validate
			} else {
				p.ResolvedPath = c.Resolve(p.Path)
			}
		}
		pt.str("engine", &p.Engine)
		pt.strings("events", &p.Events)
		pt.strings("emits", &p.Emits)
		d.limits(pt, &p.Limits)
		d.pluginConfig(pt, &p)
		pt.stringMap("env", &p.Env)
		pt.strings("allowed_hosts", &p.AllowedHosts)
		d.kv(pt, &p.KV)
		d.pluginBuild(c, pt, &p)
		pt.done()
		c.Plugins = append(c.Plugins, p)
	}
}

// pluginConfig decodes config, config_env and config_file into p.Config.
func (d *decoder) pluginConfig(t *table, p *Plugin) {
	p.Config = map[string]any{}
	if v, path, ok := t.lookup("config"); ok {
		m, ok := v.(map[string]any)
		if !ok {
			t.typeErr(path, "a table", v, true)
		}
		for k, val := range m {
			if err := checkRenderable(val); err != nil {
				d.fail(keyPath(path, k), false, err)
				continue
			}
			p.Config[k] = val
		}
	}
	// The env and file variants hold secrets: their values become Secrets.
	var fromEnv, fromFile map[string]string
	t.stringMap("config_env", &fromEnv)
	t.stringMap("config_file", &fromFile)
	for _, src := range []struct {
		key  string
		m    map[string]string
		read func(string) (Secret, error)
	}{
		{"config_env", fromEnv, d.envSecret},
		{"config_file", fromFile, d.fileSecret},
	} {
		for k, ref := range src.m {
			path := keyPath(keyPath(t.path, src.key), k)
			if _, dup := p.Config[k]; dup {
				d.fail(path, true, newProblem(ErrInvalid, "config key %q is given more than once (config, config_env, config_file)", k))
				continue
			}
			s, err := src.read(ref)
			if err != nil {
				d.fail(path, false, err)
				continue
			}
			p.Config[k] = s
		}
	}
}

// kv decodes kv = true|false or kv = { max_value_bytes = ..., max_bytes = ... }.
func (d *decoder) kv(t *table, kv *KV) {
	v, path, ok := t.lookup("kv")
	if !ok {
		return
	}
	switch v := v.(type) {
	case bool:
		kv.Enabled = v
	case map[string]any:
		kv.Enabled = true
		kt := d.table(path, v)
		kt.size("max_value_bytes", &kv.MaxValueBytes)
		kt.size("max_bytes", &kv.MaxBytes)
		kt.done()
	default:
		t.typeErr(path, "true, false or a table of quotas", v, true)
	}
}

// webhooks decodes the [[webhooks]] entries (or an inline array of tables).
func (d *decoder) webhooks(c *Config, root *table) {
	d.tables(root, "webhooks", "[[webhooks]]", func(t *table) {
		w := c.NewWebhook("")
		t.str("name", &w.Name)
		t.boolean("enabled", &w.Enabled)
		t.boolean("paused", &w.Paused)
		t.str("filter", &w.Filter)
		d.flow(t, &w.Flow)
		t.strings("events", &w.Events)
		t.str("url", &w.URL)
		d.secret(t, "secret", &w.Secret)
		t.stringMap("headers", &w.Headers)
		d.delivery(t, &w.DeliveryLimits)
		t.done()
		c.Webhooks = append(c.Webhooks, w)
	})
}

// tables decodes the array of tables key of parent ([[what]], or an inline
// array of tables), calling each with every element's table in order.
func (d *decoder) tables(parent *table, key, what string, each func(*table)) {
	v, path, ok := parent.lookup(key)
	if !ok {
		return
	}
	var items []any
	switch v := v.(type) {
	case []map[string]any:
		for _, m := range v {
			items = append(items, m)
		}
	case []any:
		items = v
	default:
		parent.typeErr(path, "an array of tables ("+what+")", v, true)
		return
	}
	for i, item := range items {
		ipath := indexPath(path, i)
		m, ok := item.(map[string]any)
		if !ok {
			parent.typeErr(ipath, "a table", item, true)
			continue
		}
		each(d.table(ipath, m))
	}
}

// secret decodes a secret given as key (inline), key_env (an environment
// variable) or key_file (a file): at most one of them.
func (d *decoder) secret(t *table, key string, dst *Secret) {
	variants := []string{key, key + "_env", key + "_file"}
	var given []string
	for _, k := range variants {
		if _, ok := t.m[k]; ok {
			given = append(given, k)
		}
	}
	if len(given) > 1 {
		for _, k := range variants {
			t.lookup(k) // known keys, though not decoded
		}
		slices.SortFunc(given, func(a, b string) int {
			return d.pos.keys[keyPath(t.path, a)] - d.pos.keys[keyPath(t.path, b)]
		})
		d.fail(keyPath(t.path, given[1]), true, newProblem(ErrInvalid,
			"only one of %s, %s_env and %s_file may be set", key, key, key))
		return
	}
	before := len(d.errs)
	defer func() {
		if len(d.errs) > before { // no "missing secret" on top of this
			d.failed[keyPath(t.path, key)] = true
		}
	}()
	v, path, ok := t.lookup(key)
	if ok {
		s, isStr := v.(string)
		if !isStr {
			t.typeErr(path, "a string", v, false)
		} else if s != "" {
			*dst = Secret{value: s, source: "inline"}
		}
	}
	var ref string
	for _, variant := range []struct {
		key  string
		read func(string) (Secret, error)
	}{
		{key + "_env", d.envSecret},
		{key + "_file", d.fileSecret},
	} {
		if !t.str(variant.key, &ref) {
			continue
		}
		s, err := variant.read(ref)
		if err != nil {
			d.fail(keyPath(t.path, variant.key), false, err)
			continue
		}
		*dst = s
	}
}

// resolve resolves a path of the file as Config.Resolve does.
func (d *decoder) resolve(path string) string { return resolvePath(d.dir, path) }

func readEnvSecret(name string) (Secret, error) {
	if name == "" {
		return Secret{}, newProblem(ErrInvalid, "empty environment variable name")
	}
	v, ok := os.LookupEnv(name)
	if !ok {
		return Secret{}, newProblem(ErrMissing, "environment variable %s is not set", name)
	}
	if v == "" {
		return Secret{}, newProblem(ErrInvalid, "environment variable %s is empty", name)
	}
	return Secret{value: v, source: "env " + name}, nil
}

func readFileSecret(path string, resolve func(string) string) (Secret, error) {
	if path == "" {
		return Secret{}, newProblem(ErrInvalid, "empty file name")
	}
	full := resolve(path)
	data, err := os.ReadFile(full)
	if err != nil {
		reason := err
		if pe, ok := err.(*fs.PathError); ok {
			reason = pe.Err // the path as written says enough
		}
		return Secret{}, &problem{kind: ErrInvalid, cause: err,
			msg: fmt.Sprintf("cannot read secret file %q: %v", path, reason)}
	}
	v := strings.TrimSpace(string(data))
	if v == "" {
		return Secret{}, newProblem(ErrInvalid, "secret file %s is empty", path)
	}
	return Secret{value: v, source: "file " + full, file: full}, nil
}

// suggest returns the known key closest to k, if it is close enough to be a
// typo: one edit away (a transposition is one edit), two for longer keys.
func suggest(k string, known []string) string {
	limit := 1
	if len(k) >= 8 {
		limit = 2
	}
	best, bestDist := "", limit+1
	for _, cand := range known {
		if dist := editDistance(strings.ToLower(k), cand); dist < bestDist {
			best, bestDist = cand, dist
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b, in
// bytes: insertions, deletions, substitutions and transpositions of adjacent
// bytes count one each.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
