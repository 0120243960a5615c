package runlog

import (
	"context"
	"fmt"
	"sync"
)

// DefaultMemoryRecords is the number of records a Memory keeps when
// NewMemory is given no bound.
const DefaultMemoryRecords = 100_000

// Memory is a Store in memory that keeps the last records appended, up to
// its bound, indexed by event id: the run log of the `memory` broker, and
// of tests. It is safe for concurrent use.
type Memory struct {
	mu      sync.RWMutex
	max     int
	ring    []Record // the record of Seq s at (s-1) % max; grows to max
	last    uint64   // the Seq of the last record appended
	byEvent map[string][]uint64
	closed  bool
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory that keeps the last max records (the
// oldest are forgotten first); max <= 0 means DefaultMemoryRecords. Its
// memory grows with the records, up to the bound.
func NewMemory(max int) *Memory {
	if max <= 0 {
		max = DefaultMemoryRecords
	}
	return &Memory{max: max, byEvent: map[string][]uint64{}}
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
		if len(m.ring) < m.max {
			m.ring = append(m.ring, *r)
		} else {
			i := int((r.Seq - 1) % uint64(m.max))
			m.forget(&m.ring[i])
			m.ring[i] = *r
		}
		m.byEvent[r.EventID] = append(m.byEvent[r.EventID], r.Seq)
	}
	return nil
}

// forget removes the oldest record, old, from the index.
func (m *Memory) forget(old *Record) {
	seqs := m.byEvent[old.EventID]
	if len(seqs) <= 1 {
		delete(m.byEvent, old.EventID)
		return
	}
	// old is the oldest record of all, so the first of its event's.
	if cap(seqs) > 2*len(seqs) && cap(seqs) > 8 {
		m.byEvent[old.EventID] = append([]uint64(nil), seqs[1:]...)
	} else {
		m.byEvent[old.EventID] = seqs[1:]
	}
}

// at returns the record of Seq s, which must be kept.
func (m *Memory) at(s uint64) *Record {
	return &m.ring[(s-1)%uint64(m.max)]
}

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
	seqs := m.byEvent[eventID]
	if len(seqs) == 0 {
		return nil, nil
	}
	out := make([]Record, len(seqs))
	for i, s := range seqs {
		out[i] = *m.at(s)
	}
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
	first := m.last - uint64(len(m.ring)) + 1 // the oldest kept
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
	m.ring, m.byEvent = nil, nil
	return nil
}
