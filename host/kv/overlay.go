package kv

import (
	"context"
	"slices"
	"sync"
)

// Overlay is a scratch layer over a Store: reads see its own writes first,
// then the base; writes and deletes stay in the layer and never reach the
// base. Shadow replay gives one to a candidate plugin so that it can use
// its key-value space without changing it. It is safe for concurrent use.
type Overlay struct {
	base Store
	mu   sync.Mutex
	m    map[string][]byte // nil value: deleted in the layer
}

var _ Store = (*Overlay)(nil)

// NewOverlay returns an empty layer over base.
func NewOverlay(base Store) *Overlay { return &Overlay{base: base, m: map[string][]byte{}} }

// Get implements Store.
func (o *Overlay) Get(ctx context.Context, key string) ([]byte, error) {
	o.mu.Lock()
	v, ok := o.m[key]
	o.mu.Unlock()
	if !ok {
		return o.base.Get(ctx, key)
	}
	if v == nil {
		return nil, ErrNotFound
	}
	return slices.Clone(v), nil
}

// Set implements Store.
func (o *Overlay) Set(_ context.Context, key string, value []byte) error {
	v := make([]byte, len(value))
	copy(v, value)
	o.mu.Lock()
	o.m[key] = v
	o.mu.Unlock()
	return nil
}

// Delete implements Store.
func (o *Overlay) Delete(_ context.Context, key string) error {
	o.mu.Lock()
	o.m[key] = nil
	o.mu.Unlock()
	return nil
}
