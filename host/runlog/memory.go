package runlog

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
)

// DefaultMemoryRecords is the number of records a Memory keeps when
// NewMemory is given no bound.
const DefaultMemoryRecords = 100_000

// memChunk is the number of records in each chunk of a Memory's ring: the
// ring grows a chunk at a time, so that growing never copies the records
// kept (nor leaves the garbage collector the arrays it outgrew).
const memChunk = 1024

// Memory is a Store in memory that keeps the last records appended, up to
// its bound, indexed by event id: the run log of the `memory` broker, and
// of tests. It is safe for concurrent use.
//
// The index by event is a chain per bucket of event-id hashes: a table
// of at least max buckets holds the Seq of the newest record whose id
// hashes to it, and each record links to the previous one in its bucket
// (ByEvent keeps those of its id). See RATIONALE.md, "Why is Memory's
// index a chain per bucket?".
type Memory struct {
	mu      sync.RWMutex
	max     int
	chunks  [][]memEntry // the ring: the record of Seq s at i = (s-1) % max, in chunks[i/memChunk][i%memChunk]
	n       int          // the records kept: up to max
	last    uint64       // the Seq of the last record appended
	seed    maphash.Seed
	buckets []uint64 // by hash of an event id & mask: the Seq of the newest record, 0 for none
	mask    uint64
	closed  bool
}

var _ Store = (*Memory)(nil)

// memEntry is a record kept and the Seq of the previous record in its
// bucket, 0 for none.
type memEntry struct {
	rec  Record
	prev uint64
}

// NewMemory returns an empty Memory that keeps the last max records (the
// oldest are forgotten first); max <= 0 means DefaultMemoryRecords. Its
// memory grows with the records, up to the bound.
func NewMemory(max int) *Memory {
	if max <= 0 {
		max = DefaultMemoryRecords
	}
	n := 1
	for n < max {
		n <<= 1
	}
	return &Memory{max: max, seed: maphash.MakeSeed(), buckets: make([]uint64, n), mask: uint64(n - 1)}
}

// Append implements Store. Records are kept as values; their Emits are
// shared, not copied.
func (m *Memory) Append(ctx context.Context, recs ...*Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := Check(recs); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("runlog: memory: %w", ErrClosed)
	}
	for _, r := range recs {
		m.last++
		r.Seq = m.last
		b := m.bucket(r.EventID)
		i := m.index(r.Seq)
		if m.n < m.max {
			if i/memChunk == len(m.chunks) { // i == m.n: the ring grows
				m.chunks = append(m.chunks, make([]memEntry, min(memChunk, m.max-i)))
			}
			m.n++
		}
		e := &m.chunks[i/memChunk][i%memChunk]
		e.rec, e.prev = *r, *b
		*b = r.Seq
	}
	return nil
}

// bucket returns the bucket of the event id.
func (m *Memory) bucket(eventID string) *uint64 {
	return &m.buckets[maphash.String(m.seed, eventID)&m.mask]
}

// index returns the position in the ring of the record of Seq s.
func (m *Memory) index(s uint64) int { return int((s - 1) % uint64(m.max)) }

// entry returns the entry of Seq s, which must be kept.
func (m *Memory) entry(s uint64) *memEntry {
	i := m.index(s)
	return &m.chunks[i/memChunk][i%memChunk]
}

// at returns the record of Seq s, which must be kept.
func (m *Memory) at(s uint64) *Record { return &m.entry(s).rec }

// first returns the Seq of the oldest record kept.
func (m *Memory) first() uint64 { return m.last - uint64(m.n) + 1 }

// ByEvent implements Store.
func (m *Memory) ByEvent(ctx context.Context, eventID string) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, fmt.Errorf("runlog: memory: %w", ErrClosed)
	}
	var out []Record
	first := m.first()
	// Seqs decrease along a chain; one older than the oldest record kept
	// ends it (its slot holds a newer record now).
	for s := *m.bucket(eventID); s != 0 && s >= first; s = m.entry(s).prev {
		if r := m.at(s); r.EventID == eventID {
			out = append(out, *r)
		}
	}
	slices.Reverse(out)
	return out, nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, f Filter) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, fmt.Errorf("runlog: memory: %w", ErrClosed)
	}
	first := m.first()
	limit := f.Max()
	var out []Record
	for s := max(first, f.After+1); s <= m.last && len(out) < limit; s++ {
		if r := m.at(s); f.Match(r) {
			out = append(out, *r)
		}
	}
	return out, nil
}

// Len returns the number of records kept.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.n
}

// Close implements Store: it forgets every record.
func (m *Memory) Close(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.chunks, m.n, m.buckets = nil, 0, nil
	return nil
}
