package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/kv"
	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/webhooks"
)

// Open opens the broker that cfg names: the embedded NATS server (its
// files under <data_dir>/nats), an external NATS cluster, or the memory
// bus. The second result is the NATS bus, nil for memory, for the parts
// that live beside the events on JetStream (plugins' KV spaces, run
// records).
func Open(ctx context.Context, cfg *config.Config, dataDir string, log *slog.Logger) (bus.Bus, *natsbus.Bus, error) {
	b := cfg.Broker
	log = log.With(slog.String("component", "bus"))
	if b.Kind == config.BrokerMemory {
		log.Info("memory broker: events, and delayed events until their time, are kept in this process only")
		return membus.New(membus.Options{Queue: cfg.Defaults.Queue, Logger: log,
			MaxDelay: cfg.Delayed.MaxDelay, MaxDelayed: cfg.Delayed.MaxPending}), nil, nil
	}
	opts := NATSOptions(cfg, dataDir)
	opts.Logger = log
	nb, err := natsbus.Open(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("broker %s: %w", b.Kind, err)
	}
	if b.Kind == config.BrokerEmbedded {
		log.Info("embedded broker started", slog.String("store", opts.Embedded.StoreDir),
			slog.String("fsync", b.Fsync), slog.String("listen", b.Listen))
		if b.Listen != "" && !b.ListenAuth.IsSet() {
			log.Warn("the embedded broker's listener requires no credentials: every local user can read the events and publish releases; set [broker.listen_auth]",
				slog.String("listen", b.Listen))
		}
	} else {
		log.Info("connected to the NATS cluster", slog.String("url", b.URL))
	}
	return nb, nb, nil
}

// NATSOptions maps the [broker] table to the NATS bus's options.
func NATSOptions(cfg *config.Config, dataDir string) natsbus.Options {
	b := cfg.Broker
	o := natsbus.Options{
		Prefix:      b.Prefix,
		Replicas:    b.Replicas,
		MaxAge:      b.MaxAge,
		MaxBytes:    int64(b.MaxBytes),
		DedupWindow: b.DedupWindow,
		Queue:       cfg.Defaults.Queue,
		ClientName:  "evhost",
		MaxDelay:    cfg.Delayed.MaxDelay,
		MaxDelayed:  cfg.Delayed.MaxPending,
	}
	switch b.Kind {
	case config.BrokerEmbedded:
		o.Embedded = &natsbus.Embedded{
			StoreDir:     filepath.Join(dataDir, "nats"),
			Listen:       b.Listen,
			SyncInterval: b.SyncInterval,
			SyncAlways:   b.Fsync == config.FsyncAlways,
		}
		listenerOptions(&b, o.Embedded)
	case config.BrokerNATS:
		for _, u := range strings.Split(b.URL, ",") {
			if u = strings.TrimSpace(u); u != "" {
				o.URLs = append(o.URLs, u)
			}
		}
		o.CredsFile = b.CredsFile
		o.User = b.User
		o.Password = b.Password.Value()
		o.Token = b.Token.Value()
		o.TLS = natsbus.TLS{CAFile: b.TLS.CAFile, CertFile: b.TLS.CertFile, KeyFile: b.TLS.KeyFile}
	}
	return o
}

// ClientOptions are the options that reach cfg's broker from a client
// process named clientName: the cluster of kind "nats", or the listener of
// kind "embedded" (the running daemon's server); kind "memory" keeps
// nothing beside its process and is refused.
func ClientOptions(cfg *config.Config, dataDir, clientName string) (natsbus.Options, error) {
	b := cfg.Broker
	switch b.Kind {
	case config.BrokerNATS:
		o := NATSOptions(cfg, dataDir)
		o.ClientName = clientName
		return o, nil
	case config.BrokerEmbedded:
		if b.Listen == "" {
			return natsbus.Options{}, fmt.Errorf("[broker] kind = %q has no listener, so its store is reachable only inside the daemon: set [broker] listen (the daemon then serves NATS there) or use kind = %q",
				config.BrokerEmbedded, config.BrokerNATS)
		}
		host, port, err := net.SplitHostPort(b.Listen)
		if err != nil {
			return natsbus.Options{}, fmt.Errorf("[broker] listen %q: %w", b.Listen, err)
		}
		if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
			host = "127.0.0.1"
		}
		if port == "0" {
			return natsbus.Options{}, fmt.Errorf("[broker] listen %q: a random port cannot be reached; give the port", b.Listen)
		}
		o := NATSOptions(cfg, dataDir)
		o.Embedded, o.ClientName = nil, clientName
		scheme := listenerClient(&b, &o)
		o.URLs = []string{scheme + net.JoinHostPort(host, port)}
		if b.ListenAuth.NKey != "" && !b.ListenAuth.NKeySeed.IsSet() {
			return natsbus.Options{}, fmt.Errorf("[broker.listen_auth] has the listener's nkey but not its seed: a client signs with the seed; set nkey_seed (or nkey_seed_env, nkey_seed_file)")
		}
		return o, nil
	}
	return natsbus.Options{}, fmt.Errorf("[broker] kind = %q keeps nothing beside the process; this needs kind = %q (or %q with listen)",
		b.Kind, config.BrokerNATS, config.BrokerEmbedded)
}

// KVSpaces are the plugins' key-value spaces, one per plugin across its
// versions: a JetStream KV bucket beside the bus when it is NATS (shared
// by every daemon and kept across restarts), else one in memory. It is
// safe for concurrent use.
type KVSpaces struct {
	nbus   *natsbus.Bus
	mu     sync.Mutex
	spaces map[string]kv.Store
}

// NewKVSpaces returns the spaces beside nbus (nil: in memory).
func NewKVSpaces(nbus *natsbus.Bus) *KVSpaces {
	return &KVSpaces{nbus: nbus, spaces: map[string]kv.Store{}}
}

// Store returns the space of plugin p, opening it the first time.
func (s *KVSpaces) Store(p *config.Plugin) (kv.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.spaces[p.Name]; ok {
		return st, nil
	}
	var st kv.Store
	if s.nbus != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		st, err = natsbus.KV(ctx, s.nbus, p.Name, natsbus.KVOptions{MaxValueSize: int(p.KV.MaxValueBytes), MaxBytes: int64(p.KV.MaxBytes)})
		if err != nil {
			return nil, err
		}
	} else {
		st = kv.NewMemory(int(p.KV.MaxBytes))
	}
	s.spaces[p.Name] = st
	return st, nil
}

// memoryRuns is the number of run records kept in memory when the broker
// is the memory bus.
const memoryRuns = 100_000

// Runs opens the store of run records: a stream beside the events when the
// bus is NATS (nbus; it survives restarts and every daemon shares it, for
// [broker] runs_max_age), else a bounded store in memory.
func Runs(ctx context.Context, nbus *natsbus.Bus, cfg *config.Config) (runlog.Store, error) {
	if nbus == nil {
		return runlog.NewMemory(memoryRuns), nil
	}
	s, err := natsbus.Runs(ctx, nbus, natsbus.RunsOptions{MaxAge: cfg.Broker.RunsMaxAge})
	if err != nil {
		return nil, fmt.Errorf("run records: %w", err)
	}
	return s, nil
}

// RunsLinger returns the runlog.RecorderOptions.Linger for the store Runs
// opens: natsbus.RunsLinger on a NATS bus, where every Append costs a
// message, and MemoryRunsLinger for the store in memory.
func RunsLinger(nbus *natsbus.Bus) time.Duration {
	if nbus == nil {
		return MemoryRunsLinger
	}
	return natsbus.RunsLinger
}

// MemoryRunsLinger is the Recorder's linger on the run log in memory. An
// Append there costs no I/O, but each costs a context with a timeout, the
// store's lock and a wake-up of the Recorder's goroutine: appending as
// soon as it can, the Recorder paid them for every record or two (about
// 0.35 us per event on the 2-core EPYC, 8% of the daemon's CPU in
// BenchmarkThroughput). A millisecond makes them once per batch; readers
// flush first, so none sees the difference.
const MemoryRunsLinger = time.Millisecond

// DeployStore returns the function that opens the deploy store beside
// nbus: modules pinned by digest and releases. Without a NATS bus it
// returns an error saying why.
func DeployStore(nbus *natsbus.Bus) func(context.Context) (*natsbus.DeployStore, error) {
	return func(ctx context.Context) (*natsbus.DeployStore, error) {
		if nbus == nil {
			return nil, errors.New("plugins pinned by digest come from the deploy store, which needs a NATS broker (kind \"embedded\" or \"nats\")")
		}
		s, err := natsbus.Deploys(ctx, nbus)
		if err != nil {
			return nil, fmt.Errorf("deploy store: %w", err)
		}
		return s, nil
	}
}

// webhooksValue and webhooksBytes bound the bucket of the webhooks created over the API.
const (
	webhooksValue = 64 << 10
	webhooksBytes = 16 << 20
)

// WebhookStore returns the function that opens the store of the webhooks
// created over the admin API: a KV bucket beside nbus (<prefix>_webhooks,
// shared by every daemon and kept across restarts), or, on the memory
// broker (nbus nil), a store in this process only.
func WebhookStore(nbus *natsbus.Bus) func(context.Context) (webhooks.Store, error) {
	return func(ctx context.Context) (webhooks.Store, error) {
		if nbus == nil {
			return webhooks.NewMemoryStore(), nil
		}
		t, err := natsbus.OpenTable(ctx, nbus, "webhooks", natsbus.TableOptions{
			Description: "evhost: the webhooks created over the admin API", MaxValueSize: webhooksValue, MaxBytes: webhooksBytes,
		})
		if err != nil {
			return nil, err
		}
		return t, nil
	}
}
