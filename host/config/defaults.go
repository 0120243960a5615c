package config

import (
	"log/slog"
	"time"
)

// This file is the one place where defaults live. The decoder starts from
// Default() and overlays what the file says; a plugin or a webhook starts from
// the [defaults] the file ended up with.

// Default returns the configuration of an empty config.toml in the current
// directory: no plugins, no webhooks, every default filled in.
func Default() *Config {
	c := &Config{
		Dir: ".",
		Host: Host{
			Listen:          "127.0.0.1:8080",
			DataDir:         "./data",
			MaxBody:         1 * MiB,
			ShutdownTimeout: 30 * time.Second,
			CompiledCache:   256 * MiB,
			MemoryReserve:   32 * MiB,
			LogFormat:       "text",
			LogLevel:        slog.LevelInfo,
		},
		Broker: Broker{
			Kind:         BrokerEmbedded,
			Fsync:        FsyncInterval,
			SyncInterval: 100 * time.Millisecond,
			MaxAge:       7 * 24 * time.Hour,
			MaxBytes:     10 * GiB,
			DedupWindow:  2 * time.Minute,
			Prefix:       "evhost",
			RunsMaxAge:   7 * 24 * time.Hour,
		},
		Tracing: Tracing{
			Endpoint:    "http://127.0.0.1:4318/v1/traces",
			ServiceName: "evhost",
			SampleRatio: 1,
			Timeout:     10 * time.Second,
		},
		Defaults: DefaultLimits(),
	}
	c.Host.ResolvedDataDir = c.Resolve(c.Host.DataDir)
	c.Host.HTTP = DefaultHTTPLimits()
	return c
}

// DefaultLimits returns the built-in [defaults].
func DefaultLimits() Limits {
	return Limits{
		DeliveryLimits: DeliveryLimits{
			Timeout:     5 * time.Second,
			Concurrency: 16,
			Queue:       1024,
			MaxAttempts: 5,
			Backoff:     100 * time.Millisecond,
			MaxBackoff:  30 * time.Second,
			AckWait:     30 * time.Second,
		},
		GuestLimits: GuestLimits{
			Memory:       64 * MiB,
			MaxEmits:     100,
			MaxEmitBytes: 4 * MiB,
			MaxDepth:     16,
			MaxLogBytes:  64 * KiB,
			MinInstances: 1,
			MaxInstances: 0,
			MaxCalls:     0,
			MaxAge:       0,
			IdleTimeout:  5 * time.Minute,
		},
	}
}

// NewPlugin returns a plugin called name with every default filled in (its
// limits are c.Defaults); the caller sets at least Path and Events.
func (c *Config) NewPlugin(name string) Plugin {
	return Plugin{
		Name:    name,
		Enabled: true,
		Limits:  c.Defaults,
		KV:      KV{MaxValueBytes: 64 * KiB, MaxBytes: 16 * MiB},
	}
}

// NewWebhook returns a webhook called name with every default filled in (its
// limits are c.Defaults); the caller sets at least URL, Events and Secret.
func (c *Config) NewWebhook(name string) Webhook {
	return Webhook{
		Name:           name,
		Enabled:        true,
		DeliveryLimits: c.Defaults.DeliveryLimits,
	}
}

// NewHookSource returns a [[sources.webhooks]] entry called name with the
// defaults filled in; hookDefaults adds those that depend on its verify.
func (c *Config) NewHookSource(name string) HookSource {
	return HookSource{Name: name, Enabled: true, Encoding: "hex", Tolerance: 5 * time.Minute, MaxBody: c.Host.MaxBody}
}

// hookDefaults fills in the keys of w that the file does not give (has
// says which it gives) and whose default depends on its name or scheme:
// the path, the source, and where the type and the id come from.
func hookDefaults(w *HookSource, has func(key string) bool) {
	if w.Path == "" && !has("path") {
		w.Path = w.Name
	}
	if w.Source == "" && !has("source") && w.Name != "" {
		w.Source = "evhost://hooks/" + w.Name
	}
	typed := has("type") || has("type_header") || has("type_field")
	ided := has("id_header") || has("id_field")
	switch w.Verify {
	case VerifyStandardWebhooks:
		if !typed {
			w.TypeField = "type"
		}
		if !ided {
			w.IDHeader = "webhook-id"
		}
	case VerifyGitHub:
		if !typed {
			w.TypeHeader = "X-GitHub-Event"
			if !has("type_prefix") {
				w.TypePrefix = "github."
			}
		}
		if !ided {
			w.IDHeader = "X-GitHub-Delivery"
		}
	case VerifyStripe:
		if !typed {
			w.TypeField = "type"
			if !has("type_prefix") {
				w.TypePrefix = "stripe."
			}
		}
		if !ided {
			w.IDField = "id"
		}
	}
}

// NewNATSSource returns a [[sources.nats]] entry called name with the
// defaults filled in.
func (c *Config) NewNATSSource(name string) NATSSource {
	return NATSSource{Name: name, Enabled: true, Deliver: DeliverNew, AckWait: 30 * time.Second, MaxMessage: 1 * MiB}
}
