package main

// evhost backup and evhost restore: the broker's streams, through a running
// daemon's admin API, into a directory; and from the directory into the
// broker of a stopped daemon.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"

	"github.com/evhost/evhost/host/backup"
	"github.com/evhost/evhost/host/broker"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
)

func cmdBackup(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "backup", "DIR",
		`Back up the broker of a running daemon into DIR (new, or empty): every stream evhost
keeps in JetStream (events with each subscription's position and pending events,
dead letters, run records, the plugins' KV spaces, the deploy store and releases),
each with JetStream's own snapshot, through POST /v1/admin/backup (a token with the
admin scope). Each stream is a snapshot of one moment; the streams are taken one
after the other. DIR gets one .snap and one .json file per stream and
manifest.json, written last, with their SHA-256 digests. Restore it with
'evhost restore DIR'.`)
	df := addDaemonFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	d, ok := df.client(e, fs, "evhost backup")
	if !ok {
		return exitUsage
	}
	// The answer takes as long as the store is large: --timeout bounds
	// the wait for the daemon's first answer only.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.base+"/v1/admin/backup", nil)
	if err != nil {
		fprintf(e.stderr, "evhost backup: %v\n", err)
		return exitUsage
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	hc := *d.http
	if tr, ok := hc.Transport.(*http.Transport); ok {
		tr = tr.Clone()
		tr.ResponseHeaderTimeout = d.timeout
		hc.Transport = tr
	} else if hc.Transport == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = d.timeout
		hc.Transport = tr
	}
	resp, err := hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			fprintf(e.stderr, "evhost backup: no daemon answered at %s: %v\n", d.addr, err)
			return exitUnreachble
		}
		fprintf(e.stderr, "evhost backup: %v\n", err)
		return exitError
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return d.refused("", resp, body)
	}
	m, err := backup.Write(resp.Body, fs.Arg(0))
	if err != nil {
		fprintf(e.stderr, "evhost backup: %v\n", err)
		return exitError
	}
	var msgs uint64
	for _, s := range m.Streams {
		fprintf(e.stdout, "%-28s %9d messages %12d bytes  %d consumers\n", s.Name, s.Messages, s.DataBytes, s.Consumers)
		msgs += s.Messages
	}
	fprintf(e.stdout, "backup of %d streams (%d messages), begun %s, written to %s\n", len(m.Streams), msgs, m.Started.Format("2006-01-02T15:04:05Z"), fs.Arg(0))
	return exitOK
}

func cmdRestore(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "restore", "DIR",
		`Restore the backup in DIR (from 'evhost backup') into the broker of the config, with
JetStream's own restore, the daemon stopped. With [broker] kind "embedded", the
data directory must hold no broker store yet (a fresh one: move the old one aside);
with kind "nats", the cluster must hold none of the backup's streams. The backup's
stream prefix must be the config's. Nothing is restored when a check fails. Start
the daemon afterwards: it handles the events the backup holds pending, and
delivers again those that were in flight when the backup was taken.`)
	cf := addConfigFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	cf.findUp(e)
	cfg, ok := cf.load(e)
	if !ok {
		return exitError
	}
	dir := fs.Arg(0)
	if _, err := backup.Read(dir); err != nil {
		fprintf(e.stderr, "evhost restore: %v\n", err)
		return exitError
	}
	dataDir := cfg.Host.Data()
	opts := broker.NATSOptions(cfg, dataDir)
	opts.ClientName = "evhost-restore"
	opts.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch cfg.Broker.Kind {
	case config.BrokerMemory:
		fprintf(e.stderr, "evhost restore: [broker] kind = %q keeps nothing to restore into\n", config.BrokerMemory)
		return exitError
	case config.BrokerEmbedded:
		store := filepath.Join(dataDir, "nats")
		if has, err := backup.StoreHasStreams(store); err != nil || has {
			if err == nil {
				fprintf(e.stderr, "evhost restore: %s already holds a broker store with streams: restore into a fresh data directory (stop the daemon, move %s aside, or give --data-dir); nothing restored\n", store, store)
			} else {
				fprintf(e.stderr, "evhost restore: %v\n", err)
			}
			return exitError
		}
	}
	snaps, err := natsbus.DialSnapshots(ctx, opts)
	if err != nil {
		fprintf(e.stderr, "evhost restore: %v\n", err)
		return exitError
	}
	defer snaps.Close()
	m, err := backup.Restore(ctx, dir, snaps, func(s backup.Stream) {
		fprintf(e.stdout, "restored %-28s %9d messages  %d consumers\n", s.Name, s.Messages, s.Consumers)
	})
	if err != nil {
		fprintf(e.stderr, "evhost restore: %v\n", err)
		return exitError
	}
	fprintf(e.stdout, "restored %d streams from %s (backup begun %s); start the daemon\n", len(m.Streams), dir, m.Started.Format("2006-01-02T15:04:05Z"))
	return exitOK
}
