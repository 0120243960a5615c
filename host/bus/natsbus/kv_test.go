package natsbus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/kv"
)

func TestKV(t *testing.T) {
	ctx := context.Background()
	opts := embedded(t)
	b := open(t, opts)
	s, err := natsbus.KV(ctx, b, "inventory", natsbus.KVOptions{MaxValueSize: 64, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatalf("KV: %v", err)
	}
	if _, err := s.Get(ctx, "missing"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("Get of a missing key: %v, want kv.ErrNotFound", err)
	}
	// Keys JetStream would refuse as they are, beside ones that look like
	// their encoded forms.
	keys := []string{"sku/42", ".hidden", "trailing.", "a..b", "=raw", "a.b", "-_=/"}
	for i, k := range keys {
		if err := s.Set(ctx, k, []byte(fmt.Sprint("v", i))); err != nil {
			t.Fatalf("Set(%q): %v", k, err)
		}
	}
	for i, k := range keys {
		v, err := s.Get(ctx, k)
		if err != nil || string(v) != fmt.Sprint("v", i) {
			t.Errorf("Get(%q) = %q, %v; want %q", k, v, err, fmt.Sprint("v", i))
		}
	}
	if err := s.Set(ctx, "sku/42", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get(ctx, "sku/42"); string(v) != "new" {
		t.Errorf("after overwrite: %q", v)
	}
	if err := s.Delete(ctx, "sku/42"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, "sku/42"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want kv.ErrNotFound", err)
	}
	if err := s.Delete(ctx, "never-set"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	if err := s.Set(ctx, "big", make([]byte, 65)); !errors.Is(err, kv.ErrQuota) {
		t.Errorf("Set of a value over MaxValueSize: %v, want kv.ErrQuota", err)
	}

	// Each plugin has its own space.
	other, err := natsbus.KV(ctx, b, "payment", natsbus.KVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Get(ctx, ".hidden"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("another plugin's key: %v, want kv.ErrNotFound", err)
	}
	if _, err := natsbus.KV(ctx, b, "bad.name", natsbus.KVOptions{}); err == nil {
		t.Error("KV accepted a plugin name with a dot")
	}

	// Values survive a restart.
	closeBus(t, b)
	b = open(t, opts)
	defer closeBus(t, b)
	s, err = natsbus.KV(ctx, b, "inventory", natsbus.KVOptions{MaxValueSize: 64, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, "a..b"); err != nil || string(v) != "v3" {
		t.Errorf("after reopening: %q, %v", v, err)
	}
}

func TestKVMaxBytes(t *testing.T) {
	ctx := context.Background()
	b := open(t, embedded(t))
	defer closeBus(t, b)
	s, err := natsbus.KV(ctx, b, "small", natsbus.KVOptions{MaxBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("x"), 200)
	var n int
	for ; n < 100; n++ {
		err = s.Set(ctx, fmt.Sprint("k", n), value)
		if err != nil {
			break
		}
	}
	if !errors.Is(err, kv.ErrQuota) || n == 0 || n >= 20 {
		t.Fatalf("after %d values of 200 bytes in 4096: %v, want kv.ErrQuota after a dozen or so", n, err)
	}
	// A full space can still be emptied, and a missing key deleted.
	if err := s.Delete(ctx, "never-set"); err != nil {
		t.Errorf("Delete of a missing key in a full space: %v", err)
	}
	if err := s.Delete(ctx, "k0"); err != nil {
		t.Errorf("Delete in a full space: %v", err)
	}
	if _, err := s.Get(ctx, "k0"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
}
