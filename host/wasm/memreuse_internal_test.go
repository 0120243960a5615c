package wasm

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/evhost/evhost/internal/wasmbuild"
)

// testMemoryReserve is the reserve the tests and benchmarks give a
// runtime: [host] memory_reserve's default, 32MiB.
const testMemoryReserve = 32 << 20

// isZero reports whether b, up to its capacity, is all zero.
func isZero(b []byte) bool {
	b = b[:cap(b)]
	return len(bytes.Trim(b, "\x00")) == 0
}

// A recycled buffer comes back zeroed over its whole capacity, whatever
// the instance before it wrote; growing keeps the contents and adds zeros;
// the reserve keeps no more than its budget.
func TestMemReserve(t *testing.T) {
	r := &memReserve{budget: 3 << 16}
	m := r.Allocate(1<<16, 4<<16).(*linearMemory)
	b := m.Reallocate(1 << 16)
	if len(b) != 1<<16 || !isZero(b) {
		t.Fatalf("new memory: len %d, zero %v", len(b), isZero(b))
	}
	for i := range b {
		b[i] = 0xAB
	}
	b = m.Reallocate(2 << 16) // beyond the capacity: moved, the old buffer recycled
	if len(b) != 2<<16 || b[0] != 0xAB || b[1<<16-1] != 0xAB || !isZero(b[1<<16:]) {
		t.Fatalf("grown memory: len %d, first %#x, rest zero %v", len(b), b[0], isZero(b[1<<16:]))
	}
	if got := r.held(); got != 1<<16 {
		t.Errorf("after a move the reserve holds %d bytes, want the old buffer's %d", got, 1<<16)
	}
	for i := range b {
		b[i] = 0xCD
	}
	if m.Reallocate(5<<16) != nil {
		t.Error("Reallocate past the maximum succeeded")
	}
	m.Free()
	if got := r.held(); got > r.budget {
		t.Errorf("the reserve holds %d bytes, over its budget %d", got, r.budget)
	}

	// Another memory of another plugin takes the recycled buffers: zero.
	for range 3 {
		n := r.Allocate(1<<16, 8<<16).(*linearMemory)
		nb := n.Reallocate(1 << 16)
		if !isZero(nb) {
			t.Fatal("a recycled buffer holds the bytes of the instance before")
		}
		defer n.Free()
	}

	// A buffer larger than the whole budget is never kept.
	big := &memReserve{budget: 1 << 16}
	bm := big.Allocate(2<<16, 2<<16)
	bm.Reallocate(2 << 16)
	bm.Free()
	if big.held() != 0 {
		t.Errorf("a buffer over the budget was kept (%d bytes)", big.held())
	}
}

// Through wazero: a Go instance's memory, full of its runtime's data, is
// recycled for an instance of another plugin, which sees zeros only; and
// an instance takes no linear memory from the Go heap once the reserve
// holds some.
func TestMemReserveAcrossPlugins(t *testing.T) {
	ctx := context.Background()
	r, err := NewRuntime(ctx, RuntimeOptions{CacheDir: sharedCache(), MemoryReserve: testMemoryReserve, manualReap: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(ctx) })
	goPlugin := loadInternal(t, r, wasmbuild.Go(t, "testdata/goplugins/bytecount"), PluginOptions{Name: "go", MinInstances: 0})
	wat := loadInternal(t, r, watModule(t, "bytecount.wat"), PluginOptions{Name: "wat", MinInstances: 0})

	in, err := newInstance(ctx, goPlugin, goPlugin.c.mod)
	if err != nil {
		t.Fatal(err)
	}
	size := in.mem.Size()
	used, _ := in.mem.Read(0, size)
	if isZero(used[:len(used):len(used)]) {
		t.Fatal("the Go instance's memory is all zero: the test shows nothing")
	}
	in.close()
	if r.mem.held() < int64(size) {
		t.Fatalf("after closing a %d-byte instance the reserve holds %d bytes", size, r.mem.held())
	}
	if got := r.Stats().ReservedBytes; got != r.mem.held() {
		t.Errorf("Stats().ReservedBytes = %d, want %d", got, r.mem.held())
	}

	before := r.mem.held()
	w, err := newInstance(ctx, wat, wat.c.mod)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	mem, _ := w.mem.Read(0, w.mem.Size())
	if !isZero(mem) {
		t.Fatal("an instance of another plugin sees bytes of the closed Go instance")
	}
	if after := r.mem.held(); after >= before {
		t.Errorf("the new instance took no buffer from the reserve (%d bytes before, %d after)", before, after)
	}
}

// MemoryReserve 0 ([host] memory_reserve = "0") keeps nothing: a closed
// instance's memory goes back to the Go heap.
func TestMemReserveOff(t *testing.T) {
	r := manualRuntime(t, sharedCache(), 0)
	p := loadInternal(t, r, watModule(t, "bytecount.wat"), PluginOptions{Name: "wat", MinInstances: 0})
	mustCall(t, p)
	p.pool.trim(1<<62, 0, false)
	if r.mem != nil || r.Stats().ReservedBytes != 0 {
		t.Errorf("with no reserve configured, %d bytes are kept", r.Stats().ReservedBytes)
	}
}
