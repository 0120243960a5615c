package kv_test

import (
	"context"
	"errors"
	"testing"

	"github.com/evhost/evhost/host/kv"
)

// An overlay reads through to its base and keeps every write to itself.
func TestOverlay(t *testing.T) {
	ctx := context.Background()
	base := kv.NewMemory(1 << 20)
	base.Set(ctx, "a", []byte("base-a"))
	base.Set(ctx, "b", []byte("base-b"))
	o := kv.NewOverlay(base)
	if v, err := o.Get(ctx, "a"); err != nil || string(v) != "base-a" {
		t.Fatalf("Get a = %q, %v; want the base's value", v, err)
	}
	o.Set(ctx, "a", []byte("new-a"))
	o.Delete(ctx, "b")
	o.Set(ctx, "c", []byte("new-c"))
	for key, want := range map[string]string{"a": "new-a", "c": "new-c"} {
		if v, err := o.Get(ctx, key); err != nil || string(v) != want {
			t.Errorf("overlay Get %s = %q, %v; want %q", key, v, err, want)
		}
	}
	if _, err := o.Get(ctx, "b"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("overlay Get of a key deleted in it: %v; want ErrNotFound", err)
	}
	for key, want := range map[string]string{"a": "base-a", "b": "base-b"} {
		if v, err := base.Get(ctx, key); err != nil || string(v) != want {
			t.Errorf("base Get %s = %q, %v; want %q untouched", key, v, err, want)
		}
	}
	if _, err := base.Get(ctx, "c"); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("base Get c: %v; want ErrNotFound (the write stayed in the overlay)", err)
	}
}
