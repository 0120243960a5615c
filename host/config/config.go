package config

import (
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"time"
)

// Config is a decoded, defaulted and validated evhost configuration: the
// content of one config.toml. Every duration, size and limit in it is
// resolved (a plugin's limits already include the [defaults] it did not
// override), so its consumers need no defaults of their own.
//
// A Config is a plain value: Load and Parse return a new one each time, and
// nothing changes it afterwards, so it may be read from any goroutine. Reload
// means loading a new Config and swapping it in.
type Config struct {
	// File is the name of the file as given to Load or Parse; it prefixes
	// every error message.
	File string
	// Dir is the directory that relative paths in the file resolve against:
	// the directory of File (absolute when the Config comes from Load).
	Dir string

	Host     Host     // [host]
	Broker   Broker   // [broker]
	Tracing  Tracing  // [tracing]
	Defaults Limits   // [defaults]
	Plugins  []Plugin // [plugins.NAME], in the order the file first names them
	Webhooks []Webhook
	// Schedules are the [[schedules]] entries; Delayed the [delayed] table.
	Schedules []Schedule
	Delayed   Delayed
	Sources   Sources // [sources]: inbound webhooks, other applications' NATS subjects

	Deploy Deploy // [deploy]: what deploy mode trusts of a release
}

// DefaultDataDir is the data directory of a Host whose ResolvedDataDir is
// empty (a Config built in Go rather than loaded): ./data, relative to the
// working directory.
const DefaultDataDir = "data"

// Data returns the data directory to use: ResolvedDataDir, or
// DefaultDataDir when it is empty.
func (h *Host) Data() string {
	if h.ResolvedDataDir == "" {
		return DefaultDataDir
	}
	return h.ResolvedDataDir
}

// Host is the [host] table: the daemon itself.
type Host struct {
	// Listen is the address of the HTTP API (key listen, default
	// "127.0.0.1:8080": loopback only).
	Listen string
	// DataDir is the data directory as written (key data_dir, default
	// "./data"); ResolvedDataDir is the same resolved against Config.Dir.
	DataDir         string
	ResolvedDataDir string
	// Token is the bearer token that protects the HTTP API except health and
	// metrics (keys token, token_env, token_file); unset means no token.
	Token Secret
	// MaxBody is the largest request body the API accepts (key max_body,
	// default "1MiB").
	MaxBody Size
	// ShutdownTimeout bounds how long a drain on SIGINT or SIGTERM waits for
	// in-flight work (key shutdown_timeout, default "30s").
	ShutdownTimeout time.Duration
	// LogFormat is "text" or "json" (key log_format, default "text").
	LogFormat string
	// LogLevel is the minimum level logged (key log_level: "debug", "info",
	// "warn" or "error", default "info").
	LogLevel slog.Level
	// AllowNetworks lists the networks that outbound requests (webhooks,
	// plugins' http_request) may reach although the SSRF guard forbids their
	// class: loopback, private, link-local, metadata... (key allow_networks,
	// CIDRs such as "10.1.0.0/16"; none by default).
	AllowNetworks []netip.Prefix

	// Hostnames are the names, beyond IP addresses, localhost and the
	// host of Listen, that requests' Host header may carry (key hostnames:
	// "evhost.internal", "*.example.com" for the names under it, or "*"
	// for any). A request for another name is refused: it is how a DNS
	// rebinding attack arrives.
	Hostnames []string
	// TrustedOrigins are the web origins ("https://ops.example.com")
	// whose pages may send POST requests to the API (key
	// trusted_origins); requests that browsers send from other sites are
	// refused.
	TrustedOrigins []string
	// TLS is the [host.tls] table: HTTPS on the listener, and optionally
	// client certificates (mutual TLS).
	TLS HostTLS
	// Tokens are the [[host.tokens]] entries: bearer tokens with scopes.
	// Token, when set, is one more with every scope.
	Tokens []HostToken
	// ProtectMetrics puts GET /metrics behind a token with the read scope
	// (key protect_metrics, default false: public, as /healthz).
	ProtectMetrics bool
	// HTTP bounds what one client may hold (keys read_header_timeout,
	// read_timeout, write_timeout, idle_timeout, max_header_bytes,
	// max_batch).
	HTTP HTTPLimits
	// DebugListen, when set, serves Go's profiles (net/http/pprof, under
	// /debug/pprof/) and expvar (/debug/vars) on this host:port, a listener
	// of its own, never the API's (key debug_listen, default "": off). Off
	// loopback it needs a token with the admin scope ([host] token, or a
	// [[host.tokens]] entry with "admin"), and every request must present
	// one whenever the API has tokens.
	DebugListen string
	// CompiledCache bounds the memory of the plugins' compiled modules
	// (key compiled_cache, default "256MiB"; "0" means no bound). Past it,
	// the compiled code of the least recently active plugins that have no
	// instance (min_instances = 0, idle past idle_timeout) is freed, and
	// compiled again from the on-disk compilation cache on their next
	// event. Read at start: changing it needs a restart.
	CompiledCache Size
	// MemoryReserve bounds the linear memory that closed plugin instances
	// leave, cleared, for new instances of any plugin to reuse (key
	// memory_reserve, default "32MiB"; "0" keeps none). A new instance then
	// takes memory already in RAM instead of faulting fresh pages in, which
	// after an idle spell is most of its cost. Read at start.
	MemoryReserve Size
}

// HostToken is one [[host.tokens]] entry.
type HostToken struct {
	// Name identifies the token in logs and metrics (key name).
	Name string
	// Token is the secret (keys token, token_env, token_file).
	Token Secret
	// Scopes are what the token allows (key scopes): "publish" (ingest),
	// "read" (GET routes), "admin" (the other admin routes, and read).
	Scopes []string
	// Events are the event types and patterns a publish token may
	// publish (key events; none: any).
	Events []string
}

// HostTLS is the [host.tls] table. Its files are PEM, resolved against the
// config's directory, and re-read when they change, without a restart.
type HostTLS struct {
	// CertFile and KeyFile are the listener's certificate chain and key
	// (keys cert_file, key_file); both or neither.
	CertFile, KeyFile string
	// ClientCAFile, when set, holds the CAs that must have signed the
	// certificate every client presents (key client_ca_file).
	ClientCAFile string
}

// Enabled reports whether the listener serves HTTPS.
func (t HostTLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Tracing is the [tracing] table: OpenTelemetry spans for every ingest,
// handler run and webhook delivery, exported over OTLP/HTTP. It is off by
// default; the W3C traceparent of events is carried through emits and into
// webhooks either way.
type Tracing struct {
	// Enabled switches span export on (key enabled, default false).
	Enabled bool
	// Endpoint is the OTLP/HTTP traces URL (key endpoint, default
	// "http://127.0.0.1:4318/v1/traces", a collector on this machine).
	Endpoint string
	// Headers are sent with every export (key headers, a table of strings:
	// an API key for a hosted backend).
	Headers map[string]string
	// ServiceName is the service.name resource attribute (key
	// service_name, default "evhost").
	ServiceName string
	// SampleRatio is the share of new traces recorded, from 0 to 1 (key
	// sample_ratio, default 1). A trace that arrives sampled or not (a
	// traceparent's flag) keeps its caller's decision.
	SampleRatio float64
	// Timeout bounds one export (key timeout, default "10s").
	Timeout time.Duration
}

// Broker kinds accepted in [broker] kind.
const (
	BrokerMemory   = "memory"   // in-process channels; nothing survives the process
	BrokerEmbedded = "embedded" // NATS JetStream inside the process, stored under data_dir
	BrokerNATS     = "nats"     // an external NATS JetStream cluster at url
)

// Broker is the [broker] table: where events are journaled and delivered.
type Broker struct {
	// Kind is BrokerEmbedded (the default), BrokerNATS or BrokerMemory (key kind).
	Kind string
	// URL is the comma-separated list of server URLs of a NATS cluster (key
	// url); required with kind "nats" and refused with the others.
	URL string

	// CredsFile is a NATS credentials file, resolved against the config's
	// directory (key creds_file); kind "nats" only.
	CredsFile string
	// User and Password authenticate to the cluster (keys user, password,
	// password_env, password_file); kind "nats" only.
	User     string
	Password Secret
	// Token authenticates to the cluster with a token (keys token,
	// token_env, token_file); kind "nats" only.
	Token Secret
	// TLS is the [broker.tls] table (keys ca_file, cert_file, key_file,
	// resolved against the config's directory); kind "nats" only.
	TLS BrokerTLS

	// Listen, with kind "embedded", also serves the embedded NATS server on
	// this host:port to network clients: the nats CLI, tests, other tools
	// (key listen, default "": in-process only).
	Listen string
	// Fsync is the flush policy of the embedded server's files (key fsync):
	// "interval" (the default) flushes every SyncInterval, "always" before
	// acknowledging each event, so that a power loss loses nothing
	// acknowledged, at a fraction of the throughput. A crash of the process
	// loses nothing acknowledged either way.
	Fsync string
	// SyncInterval is the flush interval of Fsync "interval" (key
	// sync_interval, default "100ms").
	SyncInterval time.Duration

	// ListenAuth is the [broker.listen_auth] table: the credentials the
	// listener requires; required when Listen is off loopback.
	ListenAuth BrokerListenAuth
	// ListenTLS is the [broker.listen_tls] table: TLS on the listener.
	ListenTLS BrokerListenTLS

	// MaxAge is how long the event stream, the audit log, keeps an event
	// (key max_age, default "168h"; "0s" keeps events until MaxBytes).
	MaxAge time.Duration
	// MaxBytes caps the event stream; past it the oldest events go (key
	// max_bytes, default "10GiB"; 0 means no cap).
	MaxBytes Size
	// DedupWindow is how long an event's source and id are remembered to
	// drop a repeat (key dedup_window, default "2m").
	DedupWindow time.Duration
	// Replicas of the streams (key replicas); 0 means 1 embedded, and 3 on
	// a NATS cluster (1 on a single server).
	Replicas int
	// Prefix names the streams and subjects (key prefix, default
	// "evhost"): daemons with different prefixes share a cluster without
	// seeing each other's events.
	Prefix string
	// RunsMaxAge is how long the records of handler runs are kept (key
	// runs_max_age, default "168h").
	RunsMaxAge time.Duration
}

// Fsync policies of [broker] fsync.
const (
	FsyncInterval = "interval"
	FsyncAlways   = "always"
)

// BrokerTLS is the [broker.tls] table.
type BrokerTLS struct {
	CAFile, CertFile, KeyFile string
}

// DeliveryLimits are the limits of any subscription, a plugin or a webhook:
// how its events are queued, run and retried.
type DeliveryLimits struct {
	// Timeout bounds one handler call or one webhook request (key timeout, default "5s").
	Timeout time.Duration
	// Concurrency is the number of calls of this subscription that run at
	// once (key concurrency, default 16); 1 gives in-order handling.
	Concurrency int
	// Queue is the bound of this subscription's queue of pending events; when
	// it is full, ingest of events for it is refused (key queue, default 1024).
	Queue int
	// MaxAttempts is the number of attempts before an event is dead-lettered,
	// the first included (key max_attempts, default 5).
	MaxAttempts int
	// Backoff is the delay before the first retry; each retry doubles it, with
	// jitter (key backoff, default "100ms").
	Backoff time.Duration
	// MaxBackoff caps the delay between retries (key max_backoff, default "30s").
	MaxBackoff time.Duration
	// AckWait is how long the broker waits for a delivery to be settled
	// before it redelivers it: after a daemon dies, its events in flight
	// come back this long after they were delivered (key ack_wait,
	// default "30s"). It is raised to ten times the timeout when that is
	// longer, since a worker may hold a batch of deliveries.
	AckWait time.Duration
}

// GuestLimits are the limits of a plugin's sandbox and of its instance pool.
type GuestLimits struct {
	// Memory is the memory limit of one instance, at most 2GiB (key memory,
	// default "64MiB"); the wasm engine rounds it up to whole 64KiB pages.
	Memory Size
	// MaxEmits caps the events one call may emit (key max_emits, default 100).
	MaxEmits int
	// MaxEmitBytes caps the bytes one call may emit, its events' encodings
	// added up; the emit past it is refused and the event dead-lettered
	// (key max_emit_bytes, default "4MiB", at most 1GiB).
	MaxEmitBytes Size
	// MaxDepth is the loop guard: an emit whose depth would exceed it is
	// refused (key max_depth, default 16).
	MaxDepth int
	// MaxLogBytes caps the log output of one call; lines past it are dropped
	// and counted (key max_log_bytes, default "64KiB").
	MaxLogBytes Size
	// MinInstances is the number of instances kept warm (key min_instances,
	// default 1). With 0, a plugin that receives no events holds no
	// instance: the first event after idle_timeout instantiates one.
	MinInstances int
	// MaxInstances caps the instances of one plugin version; 0 means as many as
	// Concurrency (key max_instances, default 0).
	MaxInstances int
	// MaxCalls recycles an instance after that many calls; 0 means never (key
	// max_calls, default 0).
	MaxCalls int
	// MaxAge recycles an instance after that long; 0 means never (key max_age,
	// default "0s").
	MaxAge time.Duration
	// IdleTimeout closes an instance that served no call for that long,
	// down to MinInstances (key idle_timeout, default "5m"; "0s" means
	// never; otherwise at least 1s). It is closed between IdleTimeout and
	// 1.5 times it.
	IdleTimeout time.Duration
}

// Limits are all the per-plugin limits: the [defaults] table, and the keys of
// the same names that a [plugins.NAME] table may override.
type Limits struct {
	DeliveryLimits
	GuestLimits
}

// Plugin is one [plugins.NAME] table: a wasm handler and its subscription.
type Plugin struct {
	// Name is the NAME of the table; it names the subscription too. It is 1 to
	// 64 characters of A-Z, a-z, 0-9, '_' and '-'.
	Name string
	// Enabled is false when the table says enabled = false: the plugin is
	// validated but not run (default true). Its subscription is kept, and
	// its events queue up until it is enabled again.
	Enabled bool
	// Paused pauses the plugin's subscription when the config is applied
	// with it set (key paused, default false): its events wait, for every
	// daemon sharing it; set back to false, it is resumed.
	Paused bool
	// Filter is a CEL expression over the event's attributes and data (key
	// filter, see package filter): an event of the plugin's types for
	// which it is not true is acknowledged without a call, and counted.
	Filter string
	// Flow orders and paces the subscription (keys order_by, partitions,
	// rate, burst).
	Flow
	// Path is the plugin's .wasm file, or a Go package directory that evhost
	// builds, as written (key path, required); ResolvedPath is the same
	// resolved against Config.Dir. Neither is checked for existence here.
	// A path of the form "sha256:<64 lowercase hex digits>" pins the plugin
	// to the module of that SHA-256 in the deploy store (see Digest); its
	// ResolvedPath is empty.
	Path         string
	ResolvedPath string
	// Engine names a module that evhost itself provides, instead of Path
	// (key engine): "js" is the JavaScript engine, which runs the handler
	// whose source is the config value "source" (usually from config_file).
	// A release build of evhost carries it; another builds it from source
	// with clang for WASI, once, into a cache (see host/jsengine).
	Engine string
	// Digest is the hex SHA-256 of the module when Path is "sha256:<hex>",
	// as `evhost deploy` writes it into a release; empty otherwise.
	Digest string
	// Events are the event types the plugin handles: exact types and
	// NATS-style patterns, where "*" matches one dot-separated token and a
	// final ">" one or more (key events, required, not empty).
	Events []string
	// Emits is the allow-list of the types the plugin may emit, in the same
	// syntax (key emits); nil allows every type and an empty list none.
	Emits []string
	// Limits are the plugin's limits: the [defaults], overridden by the keys
	// of the same names in the plugin's table.
	Limits
	// Config holds the plugin's configuration values (key config, a table of
	// any TOML values, and the keys config_env and config_file, tables that
	// name an environment variable or a file per key; their values are
	// Secrets). The plugin reads them with config_get; see ConfigText.
	Config map[string]any
	// Env are the environment variables granted to the WASI guest (key env); none by default.
	Env map[string]string
	// AllowedHosts grants http_request to these hosts: "host", "host:port" or
	// "*.domain" (key allowed_hosts); none by default.
	AllowedHosts []string
	// KV grants the kv_* host functions (key kv: true, or a table of quotas).
	KV KV
	// Build says how to build the module at Path (keys build, build_dir,
	// watch, build_timeout); its Command is empty when Path is built by
	// someone else or is a Go package directory.
	Build Build
}

// KV is a plugin's grant of a key-value namespace (key kv of a plugin):
// kv = true grants it with the default quotas, kv = { max_value_bytes = ...,
// max_bytes = ... } with others.
type KV struct {
	// Enabled reports whether the plugin may use kv_* (default false).
	Enabled bool
	// MaxValueBytes caps one value (key max_value_bytes, default "64KiB").
	MaxValueBytes Size
	// MaxBytes caps the namespace as a whole (key max_bytes, default "16MiB").
	MaxBytes Size
}

// DigestPrefix starts a plugin path that pins the plugin to a module by
// its SHA-256: "sha256:" and 64 lowercase hex digits.
const DigestPrefix = "sha256:"

// EngineJS is the value of a plugin's key engine that runs its handler in
// evhost's JavaScript engine.
const EngineJS = "js"

// IsWasmFile reports whether the plugin's path names a .wasm module (a file,
// or a module pinned by its digest) rather than a Go package directory to
// build.
func (p *Plugin) IsWasmFile() bool {
	return p.Digest != "" || strings.EqualFold(filepath.Ext(p.Path), ".wasm")
}

// ValidDigest reports whether s is a SHA-256 digest as a plugin path pins
// it: 64 lowercase hex digits.
func ValidDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Webhook is one [[webhooks]] entry: an HTTP(S) endpoint subscribed to event
// types, delivered to per the Standard Webhooks specification.
type Webhook struct {
	// Name names the endpoint and its subscription (key name, required; the
	// same syntax as a plugin name, and unique among plugins and webhooks).
	Name string
	// Enabled is false when the entry says enabled = false (default true).
	Enabled bool
	// Paused pauses the webhook's subscription, as Plugin.Paused does (key
	// paused, default false).
	Paused bool
	// Filter selects the events delivered, as Plugin.Filter does (key
	// filter).
	Filter string
	// Flow orders and paces the deliveries, as Plugin.Flow does (keys
	// order_by, partitions, rate, burst).
	Flow
	// Events are the event types delivered, as in Plugin.Events (key events, required).
	Events []string
	// URL is the http or https endpoint (key url, required).
	URL string
	// Secret signs the deliveries (keys secret, secret_env, secret_file;
	// required). Its value is one or more whsec_ secrets separated by spaces:
	// during a rotation each delivery carries a signature per secret.
	Secret Secret
	// Headers are extra request headers (key headers); webhook-* and the
	// headers the delivery sets itself are refused.
	Headers map[string]string
	// DeliveryLimits are the [defaults] overridden by the keys of the same
	// names in the entry.
	DeliveryLimits
}

// Plugin returns the plugin called name, or nil.
func (c *Config) Plugin(name string) *Plugin {
	for i := range c.Plugins {
		if c.Plugins[i].Name == name {
			return &c.Plugins[i]
		}
	}
	return nil
}

// Resolve returns path resolved against c.Dir: unchanged when absolute,
// joined to c.Dir otherwise.
func (c *Config) Resolve(path string) string { return resolvePath(c.Dir, path) }

func resolvePath(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}
