package wasm

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// memReserve recycles the linear memories of closed instances: a new
// instance takes a buffer that an instance of any plugin used before
// instead of memory from the Go heap, which after an idle spell the
// runtime has given back to the operating system and the first touch of
// each page must fault in again (see RATIONALE.md, "Why recycle linear
// memory?"). Every buffer it holds is zero over its whole capacity: a
// closed instance's bytes are cleared before another plugin can see them.
// It is safe for concurrent use.
type memReserve struct {
	budget int64 // bytes of capacity it may hold; 0 holds nothing

	mu    sync.Mutex
	free  [][]byte // zeroed buffers, any length 0
	bytes int64    // capacity of free
}

// Allocate implements experimental.MemoryAllocator.
func (r *memReserve) Allocate(capHint, max uint64) experimental.LinearMemory {
	return &linearMemory{r: r, capHint: capHint, max: max}
}

// take returns a zeroed buffer of length 0 and capacity at least size:
// the smallest the reserve holds, or a new one of capacity want.
func (r *memReserve) take(size, want uint64) []byte {
	r.mu.Lock()
	best := -1
	for i, b := range r.free {
		if uint64(cap(b)) >= size && (best < 0 || cap(b) < cap(r.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := r.free[best]
		last := len(r.free) - 1
		r.free[best] = r.free[last]
		r.free[last] = nil
		r.free = r.free[:last]
		r.bytes -= int64(cap(b))
		r.mu.Unlock()
		return b
	}
	r.mu.Unlock()
	return make([]byte, 0, want)
}

// give clears the used part of b (the rest of its capacity is zero
// already: a linear memory never shrinks) and keeps it if the budget
// allows; otherwise the garbage collector frees it.
func (r *memReserve) give(b []byte) {
	if cap(b) == 0 || int64(cap(b)) > r.budget {
		return
	}
	clear(b)
	r.mu.Lock()
	if r.bytes+int64(cap(b)) <= r.budget {
		r.free = append(r.free, b[:0])
		r.bytes += int64(cap(b))
	}
	r.mu.Unlock()
}

// budgetBytes returns the bytes the reserve may hold; 0 for none.
func (r *memReserve) budgetBytes() int64 {
	if r == nil {
		return 0
	}
	return r.budget
}

// held returns the bytes of capacity the reserve holds (0 for none).
func (r *memReserve) held() int64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bytes
}

// linearMemory is one instance's linear memory, in a buffer from a
// memReserve. The bytes between its length and its capacity are zero.
type linearMemory struct {
	r       *memReserve
	buf     []byte
	capHint uint64
	max     uint64
}

// Reallocate implements experimental.LinearMemory: the memory grows to
// size bytes, in place while the capacity allows, else into a buffer of
// at least half as much again (so that a guest growing a page at a time
// copies a linear number of bytes), whose old one goes back to the reserve.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	old := uint64(cap(m.buf))
	want := min(max(size, m.capHint, old+old/2), m.max)
	b := m.r.take(size, want)[:size]
	copy(b, m.buf)
	m.r.give(m.buf)
	m.buf = b
	return b
}

// Free implements experimental.LinearMemory: wazero calls it when the
// instance is closed.
func (m *linearMemory) Free() {
	m.r.give(m.buf)
	m.buf = nil
}
