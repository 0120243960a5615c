package schedule

import (
	"context"
	"errors"
	"time"

	"github.com/evhost/evhost/host/kv"
)

// KVState is a State in a key-value store (on the NATS brokers, a KV
// bucket every daemon shares): the key is the schedule's name, the value
// its latest tick in RFC 3339. A tick older than the one stored is not
// written.
type KVState struct{ Store kv.Store }

// Last implements State.
func (s KVState) Last(ctx context.Context, name string) (time.Time, error) {
	v, err := s.Store.Get(ctx, name)
	if errors.Is(err, kv.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, string(v))
	if err != nil {
		return time.Time{}, nil // unreadable: as if none
	}
	return t, nil
}

// SetLast implements State.
func (s KVState) SetLast(ctx context.Context, name string, at time.Time) error {
	if last, err := s.Last(ctx, name); err == nil && !at.After(last) {
		return nil
	}
	return s.Store.Set(ctx, name, []byte(at.UTC().Format(time.RFC3339Nano)))
}
