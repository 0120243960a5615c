package membus

import (
	"strconv"
	"testing"
)

func TestDedupGenerations(t *testing.T) {
	d := newDedup(100, 4) // a window of 100ns of bus time, two ids per generation
	k := func(i int) dedupKey { return dedupKey{source: "/s", id: strconv.Itoa(i)} }
	add := func(key dedupKey, seq uint64, now int64) {
		h := d.hash(key)
		d.lookup(key, h, now)
		d.add(key, h, seq, now)
	}
	add(k(1), 1, 0)
	if seq, ok := d.lookup(k(1), d.hash(k(1)), 99); !ok || seq != 1 {
		t.Fatalf("lookup within the window: %d, %v", seq, ok)
	}
	add(k(2), 2, 10)
	add(k(3), 3, 20) // cur is full: 1 and 2 move to prev
	for i := 1; i <= 3; i++ {
		if _, ok := d.lookup(k(i), d.hash(k(i)), 30); !ok {
			t.Errorf("id %d forgotten within the window", i)
		}
	}
	if _, ok := d.lookup(k(3), d.hash(k(3)), 20+100); !ok {
		t.Error("id 3 forgotten after a window from its generation's start, not from its own")
	}
	if _, ok := d.lookup(k(1), d.hash(k(1)), 20+100); ok {
		t.Error("id 1 remembered more than a window after its generation ended")
	}
	if _, ok := d.lookup(k(3), d.hash(k(3)), 20+100+200); ok {
		t.Error("id 3 remembered two windows later")
	}
}

// BenchmarkDedup measures a lookup and an add of a new id in a full window
// of size ids: what Publish pays for deduplication; and the same in batches
// of 256 ids whose slots touch loads first, as PublishBatch does
// (batch=256), to compare in one run.
func BenchmarkDedup(b *testing.B) {
	for _, size := range []int{1 << 12, 1 << 16, 1 << 18, 1 << 20} {
		for _, batch := range []int{1, 256} {
			b.Run("ids="+strconv.Itoa(size)+"/batch="+strconv.Itoa(batch), func(b *testing.B) {
				keys := make([]dedupKey, 1<<21)
				for i := range keys {
					keys[i] = dedupKey{source: "/bench", id: strconv.Itoa(i)}
				}
				d := newDedup(1<<62, size)
				hs := make([]uint64, batch)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if i%batch == 0 && batch > 1 {
						for j := range hs {
							hs[j] = d.hash(keys[(i+j)&(len(keys)-1)])
						}
						d.touch(hs)
					}
					key := keys[i&(len(keys)-1)]
					h := d.hash(key)
					if _, dup := d.lookup(key, h, 1); !dup {
						d.add(key, h, uint64(i), 1)
					}
					i++
				}
			})
		}
	}
}

// hash, which keeps the last source's hash, gives what hashKey gives (grow
// places entries again with hashKey) for keys whose sources alternate,
// repeat and differ only in their ids.
func TestDedupHashKeepsTheSourcesHash(t *testing.T) {
	d := newDedup(1<<62, 1<<10)
	keys := []dedupKey{{"/a", "1"}, {"/a", "2"}, {"/b", "1"}, {"/a", "1"}, {"", "1"}, {"/a", "1"}, {"/b", "2"}, {"/b", "2"}}
	seen := map[uint64]dedupKey{}
	for _, k := range keys {
		h := d.hash(k)
		if want := hashKey(d.seed, k); h != want {
			t.Fatalf("hash(%v) = %#x after the keys before it, hashKey %#x", k, h, want)
		}
		if o, ok := seen[h]; ok && o != k {
			t.Fatalf("%v and %v hash alike", o, k)
		}
		seen[h] = k
	}
}
