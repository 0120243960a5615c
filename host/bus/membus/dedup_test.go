package membus

import (
	"strconv"
	"testing"
)

func TestDedupGenerations(t *testing.T) {
	d := newDedup(100, 4) // a window of 100ns of bus time, two ids per generation
	k := func(i int) dedupKey { return dedupKey{source: "/s", id: strconv.Itoa(i)} }
	add := func(key dedupKey, seq uint64, now int64) {
		_, h, _ := d.lookup(key, now)
		d.add(key, h, seq, now)
	}
	add(k(1), 1, 0)
	if seq, _, ok := d.lookup(k(1), 99); !ok || seq != 1 {
		t.Fatalf("lookup within the window: %d, %v", seq, ok)
	}
	add(k(2), 2, 10)
	add(k(3), 3, 20) // cur is full: 1 and 2 move to prev
	for i := 1; i <= 3; i++ {
		if _, _, ok := d.lookup(k(i), 30); !ok {
			t.Errorf("id %d forgotten within the window", i)
		}
	}
	if _, _, ok := d.lookup(k(3), 20+100); !ok {
		t.Error("id 3 forgotten after a window from its generation's start, not from its own")
	}
	if _, _, ok := d.lookup(k(1), 20+100); ok {
		t.Error("id 1 remembered more than a window after its generation ended")
	}
	if _, _, ok := d.lookup(k(3), 20+100+200); ok {
		t.Error("id 3 remembered two windows later")
	}
}

// BenchmarkDedup measures a lookup and an add of a new id in a full window
// of size ids: what Publish pays for deduplication.
func BenchmarkDedup(b *testing.B) {
	for _, size := range []int{1 << 12, 1 << 16, 1 << 18, 1 << 20} {
		b.Run("ids="+strconv.Itoa(size), func(b *testing.B) {
			keys := make([]dedupKey, 1<<21)
			for i := range keys {
				keys[i] = dedupKey{source: "/bench", id: strconv.Itoa(i)}
			}
			d := newDedup(1<<62, size)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				key := keys[i&(len(keys)-1)]
				if _, h, dup := d.lookup(key, 1); !dup {
					d.add(key, h, uint64(i), 1)
				}
				i++
			}
		})
	}
}
