// Package kv holds plugins' key-value spaces (the kv_* capability of the
// plugin ABI). Memory is the in-process store used with the memory bus and
// in tests; the NATS bus provides a JetStream KV bucket per plugin.
package kv

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Errors of a store; the wasm runtime maps them to ABI error codes (-1,
// -4; any other error is -5, a transient failure).
var (
	ErrNotFound = errors.New("kv: not found")
	ErrQuota    = errors.New("kv: quota exceeded")
)

// Store is one plugin's key-value space. Get returns ErrNotFound for a
// missing key; Set returns ErrQuota past the store's quota. Stores are
// safe for concurrent use.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
}

var _ Store = (*Memory)(nil)

// Memory is a key-value space in memory, last writer wins, with a quota on
// the total size of keys and values. It is safe for concurrent use.
type Memory struct {
	mu    sync.RWMutex
	m     map[string][]byte
	used  int
	quota int
}

// NewMemory returns an empty store holding at most quota bytes of keys and
// values; quota <= 0 means no limit.
func NewMemory(quota int) *Memory {
	return &Memory{m: map[string][]byte{}, quota: quota}
}

// Get returns a copy of the value stored under key.
func (s *Memory) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.RLock()
	v, ok := s.m[key]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return append([]byte(nil), v...), nil
}

// Set stores a copy of value under key.
func (s *Memory) Set(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.m[key]
	used := s.used + len(value) - len(old)
	if !had {
		used += len(key)
	}
	if s.quota > 0 && used > s.quota {
		return fmt.Errorf("%w: %d bytes used of %d", ErrQuota, s.used, s.quota)
	}
	s.m[key] = append([]byte(nil), value...)
	s.used = used
	return nil
}

// Delete removes key; deleting a missing key is not an error.
func (s *Memory) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[key]; ok {
		s.used -= len(key) + len(old)
		delete(s.m, key)
	}
	return nil
}
