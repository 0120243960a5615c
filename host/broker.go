package host

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
)

// openBus opens the broker that cfg names: the embedded NATS server (its
// files under <data_dir>/nats), an external NATS cluster, or the memory
// bus. The second result is the NATS bus, nil for memory, for the parts
// that live beside the events on JetStream (plugins' KV spaces, run
// records).
func openBus(ctx context.Context, cfg *config.Config, dataDir string, log *slog.Logger) (bus.Bus, *natsbus.Bus, error) {
	b := cfg.Broker
	log = log.With(slog.String("component", "bus"))
	if b.Kind == config.BrokerMemory {
		return membus.New(membus.Options{Queue: cfg.Defaults.Queue, Logger: log}), nil, nil
	}
	opts := natsOptions(cfg, dataDir)
	opts.Logger = log
	nb, err := natsbus.Open(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("host: broker %s: %w", b.Kind, err)
	}
	if b.Kind == config.BrokerEmbedded {
		log.Info("embedded broker started", slog.String("store", opts.Embedded.StoreDir),
			slog.String("fsync", b.Fsync), slog.String("listen", b.Listen))
	} else {
		log.Info("connected to the NATS cluster", slog.String("url", b.URL))
	}
	return nb, nb, nil
}

// natsOptions maps the [broker] table to the NATS bus's options.
func natsOptions(cfg *config.Config, dataDir string) natsbus.Options {
	b := cfg.Broker
	o := natsbus.Options{
		Prefix:      b.Prefix,
		Replicas:    b.Replicas,
		MaxAge:      b.MaxAge,
		MaxBytes:    int64(b.MaxBytes),
		DedupWindow: b.DedupWindow,
		Queue:       cfg.Defaults.Queue,
		ClientName:  "evhost",
	}
	switch b.Kind {
	case config.BrokerEmbedded:
		o.Embedded = &natsbus.Embedded{
			StoreDir:     filepath.Join(dataDir, "nats"),
			Listen:       b.Listen,
			SyncInterval: b.SyncInterval,
			SyncAlways:   b.Fsync == config.FsyncAlways,
		}
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
