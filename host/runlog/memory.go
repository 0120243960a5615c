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

// Memory is a Store in memory that keeps the last records appended, up to
// its bound, indexed by event id: the run log of the `memory` broker, and
// of tests. It is safe for concurrent use.
//
// The index by event is a chain per hash of event id: a map from the hash
// to the newest record kept with it, and from each record a link to the
// previous one with the same hash (ByEvent keeps those of its id). See
// RATIONALE.md, "Why is Memory's index a chain per hash?".
type Memory struct {
	mu     sync.RWMutex
	max    int
	ring   []Record // the record of Seq s at (s-1) % max; grows to max
	links  []link   // links[i] is the chain link of ring[i]
	last   uint64   // the Seq of the last record appended
	seed   maphash.Seed
	byHash map[uint64]uint64 // hash of an event id -> the Seq of the newest record kept with it
	closed bool
}

// link chains a record to the previous record whose event id has the same
// hash; next says that a newer one links to it.
type link struct {
	hash uint64
	prev uint64 // a Seq, 0 for none; older than the oldest kept means none
	next bool
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory that keeps the last max records (the
// oldest are forgotten first); max <= 0 means DefaultMemoryRecords. Its
// memory grows with the records, up to the bound.
func NewMemory(max int) *Memory {
	if max <= 0 {
		max = DefaultMemoryRecords
	}
	return &Memory{max: max, seed: maphash.MakeSeed(), byHash: map[uint64]uint64{}}
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
		i := m.index(r.Seq)
		if len(m.ring) < m.max {
			m.ring = append(m.ring, *r)
			m.links = append(m.links, link{})
		} else {
			m.forget(i)
			m.ring[i] = *r
		}
		h := maphash.String(m.seed, r.EventID)
		prev := m.byHash[h]
		m.links[i] = link{hash: h, prev: prev}
		if prev != 0 {
			m.links[m.index(prev)].next = true
		}
		m.byHash[h] = r.Seq
	}
	return nil
}

// forget removes the oldest record, at i, from the index: the oldest of
// all is the oldest of its chain, and when it is the newest too, the chain
// is gone.
func (m *Memory) forget(i int) {
	if l := m.links[i]; !l.next {
		delete(m.byHash, l.hash)
	}
}

// index returns the position in the ring of the record of Seq s.
func (m *Memory) index(s uint64) int { return int((s - 1) % uint64(m.max)) }

// at returns the record of Seq s, which must be kept.
func (m *Memory) at(s uint64) *Record {
	return &m.ring[m.index(s)]
}

// first returns the Seq of the oldest record kept.
func (m *Memory) first() uint64 { return m.last - uint64(len(m.ring)) + 1 }

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
	for s := m.byHash[maphash.String(m.seed, eventID)]; s != 0 && s >= first; s = m.links[m.index(s)].prev {
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
	return len(m.ring)
}

// Close implements Store: it forgets every record.
func (m *Memory) Close(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.ring, m.links, m.byHash = nil, nil, nil
	return nil
}
