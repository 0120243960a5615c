package membus

import (
	"hash/maphash"
	"math/bits"
)

// dedupKey is the identity of an event, as CloudEvents defines it.
type dedupKey struct{ source, id string }

// dedup remembers the events accepted recently, in two generations: ids go
// into cur; when cur is a window old (or holds half the maximum), prev is
// forgotten and cur becomes prev. An id is thus remembered for at least the
// window (unless the maximum is reached first) and less than twice the
// window, and no id is ever deleted on its own. See RATIONALE.md for why
// this is not a Go map. It is guarded by Bus.pubMu.
type dedup struct {
	window   int64 // in nanoseconds; 0 disables deduplication
	half     int   // the most ids one generation holds
	seed     maphash.Seed
	cur      dedupGen
	prev     dedupGen
	curStart int64  // bus time when cur began
	sink     uint32 // what touch loaded, kept so that its loads stay
	// src is the source last hashed, and srcHash its hash (see hash); at
	// first the empty source.
	src     string
	srcHash uint64
}

func newDedup(window int64, limit int) dedup {
	seed := maphash.MakeSeed()
	return dedup{window: window, half: max(limit/2, 1), seed: seed, srcHash: maphash.String(seed, "")}
}

// hashKey returns the hash of key under seed.
func hashKey(seed maphash.Seed, key dedupKey) uint64 {
	return hashWith(seed, key.id, maphash.String(seed, key.source))
}

// hashWith returns the hash of the key of id and of the source whose
// hash is sourceHash.
func hashWith(seed maphash.Seed, id string, sourceHash uint64) uint64 {
	return maphash.String(seed, id) ^ bits.RotateLeft64(sourceHash, 29)
}

// hash returns the hash of key, for touch, lookup and add. The hash of
// the last source is kept: the events of a batch, and of a producer, come
// from one source, so that most keys cost one string hash, not two.
func (d *dedup) hash(key dedupKey) uint64 {
	if key.source != d.src {
		d.src, d.srcHash = key.source, maphash.String(d.seed, key.source)
	}
	return hashWith(d.seed, key.id, d.srcHash)
}

// touch loads the first slot that the lookup of each of hashes will probe,
// in both generations, before any lookup is made. The tables are megabytes,
// larger than a core's cache, so a lookup of a new id costs a cache miss
// per generation; loads that do not depend on each other overlap their
// misses, where lookups one after the other would wait for each in turn.
// See RATIONALE.md.
func (d *dedup) touch(hashes []uint64) {
	if d.window == 0 {
		return
	}
	var sum uint32
	for _, g := range [...]*dedupGen{&d.cur, &d.prev} {
		if len(g.slots) == 0 {
			continue
		}
		mask := uint64(len(g.slots) - 1)
		for _, h := range hashes {
			sum += g.slots[h&mask].tag
		}
	}
	d.sink = sum
}

// lookup returns the sequence number of the event accepted with key, of
// hash h, within the window, if any.
func (d *dedup) lookup(key dedupKey, h uint64, now int64) (seq uint64, ok bool) {
	if d.window == 0 {
		return 0, false
	}
	if age := now - d.curStart; age >= d.window {
		// Every id of prev is older than the window; so is every id of cur
		// when cur began two windows ago (ids are added to cur only while
		// it is younger than a window).
		if age >= 2*d.window {
			d.cur.reset()
		}
		d.rotate(now)
	}
	if seq, ok := d.cur.find(h, key); ok {
		return seq, true
	}
	return d.prev.find(h, key)
}

// add records key, of hash h, which lookup did not find, as accepted at now.
func (d *dedup) add(key dedupKey, h, seq uint64, now int64) {
	if d.window == 0 {
		return
	}
	if len(d.cur.ents) >= d.half {
		d.rotate(now)
	}
	d.cur.insert(d.seed, h, key, seq)
}

// rotate forgets prev and starts a new generation.
func (d *dedup) rotate(now int64) {
	d.prev.reset()
	d.prev, d.cur = d.cur, d.prev
	d.curStart = now
}

// dedupGen is one generation: an open-addressing hash set with linear
// probing, at most half full, whose 8-byte slots hold 32 bits of a key's
// hash and the index of the key in ents, in insertion order. A lookup of a
// new id, the usual case, touches one slot and its neighbours: one cache
// line, in a table small enough to stay in cache longer than a Go map's.
type dedupGen struct {
	slots []dedupSlot // len is zero or a power of two
	ents  []dedupEntry
}

type dedupSlot struct {
	tag uint32 // the high half of the key's hash, never 0; 0 if empty
	idx uint32 // index in ents
}

// tag returns the slot tag of hash h.
func tag(h uint64) uint32 { return uint32(h>>32) | 1 }

type dedupEntry struct {
	key dedupKey
	seq uint64
}

func (g *dedupGen) find(h uint64, key dedupKey) (uint64, bool) {
	if len(g.slots) == 0 {
		return 0, false
	}
	mask, t := uint64(len(g.slots)-1), tag(h)
	for i := h & mask; ; i = (i + 1) & mask {
		s := g.slots[i]
		if s.tag == 0 {
			return 0, false
		}
		if s.tag == t && g.ents[s.idx].key == key {
			return g.ents[s.idx].seq, true
		}
	}
}

func (g *dedupGen) insert(seed maphash.Seed, h uint64, key dedupKey, seq uint64) {
	if 2*(len(g.ents)+1) > len(g.slots) {
		g.grow(seed)
	}
	g.ents = append(g.ents, dedupEntry{key: key, seq: seq})
	g.place(h, uint32(len(g.ents)-1))
}

func (g *dedupGen) place(h uint64, idx uint32) {
	mask := uint64(len(g.slots) - 1)
	i := h & mask
	for g.slots[i].tag != 0 {
		i = (i + 1) & mask
	}
	g.slots[i] = dedupSlot{tag: tag(h), idx: idx}
}

// grow doubles the slots (to 1024 at first) and places the entries again.
func (g *dedupGen) grow(seed maphash.Seed) {
	g.slots = make([]dedupSlot, max(1024, 2*len(g.slots)))
	for i := range g.ents {
		g.place(hashKey(seed, g.ents[i].key), uint32(i))
	}
}

// reset empties g, keeping its memory.
func (g *dedupGen) reset() {
	clear(g.slots)
	clear(g.ents) // release the keys' strings
	g.ents = g.ents[:0]
}
