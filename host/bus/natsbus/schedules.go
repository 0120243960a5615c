package natsbus

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/kv"
)

// ScheduleStore returns the KV bucket <prefix>_schedules, where the
// daemons sharing the broker keep the latest tick of each schedule
// (package schedule), creating it if needed.
func ScheduleStore(ctx context.Context, b *Bus) (kv.Store, error) {
	if b.closed.Load() {
		return nil, errClosed
	}
	cfg := jetstream.KeyValueConfig{
		Bucket:      b.opts.Prefix + "_schedules",
		Description: "evhost: the latest tick of each schedule",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    b.replicas,
	}
	bucket, err := b.createKV(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("natsbus: kv bucket %s: %w", cfg.Bucket, err)
	}
	return &kvStore{kv: bucket, name: cfg.Bucket}, nil
}
