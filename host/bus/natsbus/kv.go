package natsbus

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/kv"
)

// KVOptions are the quotas of a plugin's key-value space.
type KVOptions struct {
	// MaxValueSize caps one value, in bytes; zero means no cap (but the
	// server's maximum payload, 1 MiB by default).
	MaxValueSize int
	// MaxBytes caps the space as a whole; zero means no cap. JetStream
	// counts what it stores: each key's latest value plus its key and
	// about 40 bytes of overhead, and a deleted key's marker.
	MaxBytes int64
}

// KV returns the key-value space of plugin, a JetStream KV bucket named
// <prefix>_kv_<plugin> (keeping the latest value of each key, on the
// bus's replicas), creating it or updating its quotas. Get returns
// kv.ErrNotFound for a missing key, Set returns kv.ErrQuota past either
// quota; other errors are transient failures. plugin must be a valid
// subscription name (bus.ValidName), as plugin names are.
func KV(ctx context.Context, b *Bus, plugin string, opts KVOptions) (kv.Store, error) {
	if !bus.ValidName(plugin) {
		return nil, fmt.Errorf("natsbus: kv: plugin name %q: want 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'", plugin)
	}
	if opts.MaxValueSize < 0 || opts.MaxValueSize > math.MaxInt32 || opts.MaxBytes < 0 {
		return nil, fmt.Errorf("natsbus: kv %q: quotas out of range: %+v", plugin, opts)
	}
	if b.closed.Load() {
		return nil, errClosed
	}
	cfg := jetstream.KeyValueConfig{
		Bucket:       b.opts.Prefix + "_kv_" + plugin,
		Description:  "evhost: key-value space of plugin " + plugin,
		History:      1,
		MaxValueSize: int32(opts.MaxValueSize),
		MaxBytes:     opts.MaxBytes,
		Storage:      jetstream.FileStorage,
		Replicas:     b.replicas,
	}
	if cfg.MaxValueSize == 0 {
		cfg.MaxValueSize = -1
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = -1
	}
	bucket, err := b.createKV(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("natsbus: kv bucket %s: %w", cfg.Bucket, err)
	}
	return &kvStore{kv: bucket, name: cfg.Bucket, maxValue: opts.MaxValueSize}, nil
}

// kvStore is a kv.Store on a JetStream KV bucket.
type kvStore struct {
	kv       jetstream.KeyValue
	name     string
	maxValue int
}

var _ kv.Store = (*kvStore)(nil)

// Get implements kv.Store.
func (s *kvStore) Get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	e, err := s.kv.Get(ctx, kvKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, fmt.Errorf("%w: %q", kv.ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("natsbus: kv %s: get %q: %w", s.name, key, err)
	}
	return e.Value(), nil
}

// Set implements kv.Store.
func (s *kvStore) Set(ctx context.Context, key string, value []byte) error {
	if s.maxValue > 0 && len(value) > s.maxValue {
		return fmt.Errorf("%w: a value of %d bytes, over the cap of %d", kv.ErrQuota, len(value), s.maxValue)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if _, err := s.kv.Put(ctx, kvKey(key), value); err != nil {
		if quotaErr(err) {
			return fmt.Errorf("%w: %s: %v", kv.ErrQuota, s.name, err)
		}
		return fmt.Errorf("natsbus: kv %s: set %q: %w", s.name, key, err)
	}
	return nil
}

// Delete implements kv.Store; deleting a missing key is not an error, even
// in a full space.
func (s *kvStore) Delete(ctx context.Context, key string) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	err := s.kv.Delete(ctx, kvKey(key))
	if err != nil && quotaErr(err) {
		// A delete writes a marker, which a full space refuses; a missing
		// key needs none.
		if _, gerr := s.Get(ctx, key); errors.Is(gerr, kv.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("%w: %s: %v", kv.ErrQuota, s.name, err)
	}
	if err != nil {
		return fmt.Errorf("natsbus: kv %s: delete %q: %w", s.name, key, err)
	}
	return nil
}

// quotaErr reports whether err is the server's refusal of a value that
// is too large, or of a write into a full bucket.
func quotaErr(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case jetstream.JSErrCodeStreamMessageExceedsMaximum:
		return true
	case 10077: // JSStreamStoreFailedF
		return strings.Contains(apiErr.Description, "maximum bytes") || strings.Contains(apiErr.Description, "maximum messages")
	}
	return false
}

// kvKey maps a plugin's key (1 to 256 bytes of [-/_=.A-Za-z0-9], ABI.md)
// to a key that JetStream accepts, one to one: as is, unless it starts or
// ends with '.', holds "..", or starts with '='; those become '=' and
// their base64url form.
func kvKey(key string) string {
	if key != "" && key[0] != '.' && key[0] != '=' && key[len(key)-1] != '.' && !strings.Contains(key, "..") && validKeyChars(key) {
		return key
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(key))
}

func validKeyChars(key string) bool {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '/' || c == '_' || c == '=' || c == '.') {
			return false
		}
	}
	return true
}
