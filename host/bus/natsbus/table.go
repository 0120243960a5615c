package natsbus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TableOptions are the quotas of a Table.
type TableOptions struct {
	Description string
	// MaxValueSize caps one record; MaxBytes the bucket (both required).
	MaxValueSize int32
	MaxBytes     int64
}

// Table is a small set of records by key, kept in a JetStream KV bucket
// named <prefix>_<name> (the latest value of each key, on the bus's
// replicas): shared by every daemon of the cluster and kept across
// restarts. The webhooks created over the admin API live in one. It is
// safe for concurrent use.
type Table struct {
	kv   jetstream.KeyValue
	name string
}

// OpenTable returns the table name, creating its bucket or updating its
// quotas.
func OpenTable(ctx context.Context, b *Bus, name string, o TableOptions) (*Table, error) {
	if b.closed.Load() {
		return nil, errClosed
	}
	if o.MaxValueSize <= 0 || o.MaxBytes <= 0 {
		return nil, fmt.Errorf("natsbus: table %q: quotas out of range: %+v", name, o)
	}
	cfg := jetstream.KeyValueConfig{
		Bucket:       b.opts.Prefix + "_" + name,
		Description:  o.Description,
		History:      1,
		MaxValueSize: o.MaxValueSize,
		MaxBytes:     o.MaxBytes,
		Storage:      jetstream.FileStorage,
		Replicas:     b.replicas,
	}
	kv, err := b.createKV(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("natsbus: kv bucket %s: %w", cfg.Bucket, err)
	}
	return &Table{kv: kv, name: cfg.Bucket}, nil
}

// Create stores value under key unless the key holds a value; it reports
// whether it stored it.
func (t *Table) Create(ctx context.Context, key string, value []byte) (bool, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	_, err := t.kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("natsbus: table %s: create %q: %w", t.name, key, err)
	}
	return true, nil
}

// Delete deletes key; it reports whether the key held a value.
func (t *Table) Delete(ctx context.Context, key string) (bool, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	e, err := t.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("natsbus: table %s: delete %q: %w", t.name, key, err)
	}
	// Only the value read: a record made again meanwhile stays.
	if err := t.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return false, nil
		}
		return false, fmt.Errorf("natsbus: table %s: delete %q: %w", t.name, key, err)
	}
	return true, nil
}

// watchStart bounds the wait for a table's records when a watch starts.
const watchStart = 30 * time.Second

// Watch calls fn with every record of the table, once they are read, and
// then again after every change (in any process) until ctx ends. It
// returns once fn has had the first set; fn is called from one goroutine
// at a time and must not keep the map.
func (t *Table) Watch(ctx context.Context, fn func(map[string][]byte)) error {
	w, err := t.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("natsbus: table %s: watch: %w", t.name, err)
	}
	recs := map[string][]byte{}
	put := func(e jetstream.KeyValueEntry) {
		if e.Operation() == jetstream.KeyValuePut {
			recs[e.Key()] = e.Value()
		} else {
			delete(recs, e.Key())
		}
	}
	timer := time.NewTimer(watchStart)
	defer timer.Stop()
initial:
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("natsbus: table %s: watch ended: %w", t.name, ctx.Err())
			}
			if e == nil {
				break initial
			}
			put(e)
		case <-timer.C:
			w.Stop()
			return fmt.Errorf("natsbus: table %s: its records did not come within %v", t.name, watchStart)
		case <-ctx.Done():
			w.Stop()
			return ctx.Err()
		}
	}
	fn(maps.Clone(recs))
	go func() {
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil {
					put(e)
					fn(maps.Clone(recs))
				}
			}
		}
	}()
	return nil
}
