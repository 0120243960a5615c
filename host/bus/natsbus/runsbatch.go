package natsbus

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/evhost/evhost/host/runlog"
)

// The batched layout of the run log (see RATIONALE.md, "Why are run
// records batched, several to a message?"): one message per batch of
// records, on the subject <prefix>.runs.batch, written since the layout
// of one message per record (<prefix>.runs.<event token>), which is still
// read. Its body is the records' JSON forms (runlog.AppendJSON), each
// followed by a newline; its header Evhost-Runs is, in base64url without
// padding, for each record in order, the fingerprint of its event id (4
// bytes, big-endian; see fingerprint) and the length of its JSON form (an
// unsigned varint).
//
// A record's Seq is the stream sequence of its message shifted left by
// seqShift bits, plus its position in the batch: ordered as appended, in
// both layouts (a record of the older layout is at position 0).
//
// The store finds an event's batches with an index it keeps in memory:
// the sorted fingerprints of every batch message in the stream, read
// from the messages' headers alone (a headers-only consumer) when a
// lookup finds messages it has not indexed (after a restart, or written
// by another daemon), and added by Append for its own. It holds 4 bytes
// per record, at most RunsOptions.IndexRecords records: past that the
// oldest batches leave the index, and ByEvent no longer finds their
// records (List still reads them).

const (
	// runsHeader is the header of a batch: its records' index.
	runsHeader = "Evhost-Runs"
	// batchToken is the last token of the batches' subject; a token of
	// an event id is 22 characters long, never this.
	batchToken = "batch"
	// seqShift is how many low bits of a record's Seq give its position
	// in its batch.
	seqShift = 10
	// maxBatchRecords is the most records a batch holds.
	maxBatchRecords = 1 << seqShift
	// DefaultRunsIndexRecords is RunsOptions.IndexRecords when zero.
	DefaultRunsIndexRecords = 1 << 23
)

// recordSeq returns the Seq of the record at position i of the message
// of stream sequence seq.
func recordSeq(seq uint64, i int) uint64 { return seq<<seqShift | uint64(i) }

// fingerprint returns the fingerprint of an event id in the index: FNV-1a
// (64 bits) of its bytes, its two halves xored.
func fingerprint(id string) uint32 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return uint32(h ^ h>>32)
}

var b64 = base64.RawURLEncoding

// batchEntry is one record of a batch, as its header describes it.
type batchEntry struct {
	fp  uint32
	len int
}

var errBadBatch = errors.New("natsbus: runs: malformed batch")

// parseBatch returns the entries of a batch's header; with body, it
// checks that they describe it.
func parseBatch(hdr string, body []byte, checkBody bool) ([]batchEntry, error) {
	raw, err := b64.DecodeString(hdr)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", errBadBatch, err)
	}
	var out []batchEntry
	total := 0
	for len(raw) > 0 {
		if len(raw) < 5 || len(out) == maxBatchRecords {
			return nil, fmt.Errorf("%w: header", errBadBatch)
		}
		fp := binary.BigEndian.Uint32(raw)
		n, k := binary.Uvarint(raw[4:])
		if k <= 0 || n > 1<<26 {
			return nil, fmt.Errorf("%w: header", errBadBatch)
		}
		raw = raw[4+k:]
		out = append(out, batchEntry{fp, int(n)})
		total += int(n) + 1
	}
	if checkBody && total != len(body) {
		return nil, fmt.Errorf("%w: %d bytes of records in the header, %d in the body", errBadBatch, total, len(body))
	}
	return out, nil
}

// batchEncoder encodes records into batches, one at a time, in buffers
// it reuses (PublishMsg copies what it sends).
type batchEncoder struct {
	body, idx, js []byte
}

var encoders = sync.Pool{New: func() any { return new(batchEncoder) }}

// next encodes the batch of the first records of recs (at least one) that
// fit in a message of maxPayload bytes, at most maxBatchRecords, and
// returns how many it took, the batch's body and header (valid until the
// next call), and their fingerprints, sorted. A record too large for a
// message of its own is shortened (runlog.AppendJSONLimit).
func (e *batchEncoder) next(recs []*runlog.Record, maxPayload int) (n int, body []byte, hdr string, fps []uint32) {
	e.body, e.idx = e.body[:0], e.idx[:0]
	single := maxPayload - len(runsHeader) - 96 // a batch of one
	for _, r := range recs {
		if n == maxBatchRecords {
			break
		}
		e.js = runlog.AppendJSONLimit(e.js[:0], r, single)
		size := len(e.body) + len(e.js) + 1 + b64.EncodedLen(len(e.idx)+4+binary.MaxVarintLen32) + len(runsHeader) + 64
		if n > 0 && size > maxPayload {
			break // encoded again by the next call: once per batch
		}
		e.body = append(append(e.body, e.js...), '\n')
		e.idx = binary.BigEndian.AppendUint32(e.idx, fingerprint(r.EventID))
		e.idx = binary.AppendUvarint(e.idx, uint64(len(e.js)))
		n++
	}
	fps = make([]uint32, n)
	for i, r := range recs[:n] {
		fps[i] = fingerprint(r.EventID)
	}
	slices.Sort(fps)
	return n, e.body, b64.EncodeToString(e.idx), fps
}

// runIndex is the in-memory index of the batches: their sorted
// fingerprints, by stream sequence. Its methods are safe for concurrent
// use.
type runIndex struct {
	max int // fingerprints kept at most

	// sync serializes the reads of headers that bring the index up to
	// date.
	sync sync.Mutex

	mu      sync.Mutex
	batches []indexedBatch // increasing seq
	upTo    uint64         // every batch at or below it is in batches, or gone
	fps     int            // fingerprints in batches
}

type indexedBatch struct {
	seq uint64
	fps []uint32 // sorted
}

// add indexes the batch of sequence seq if it follows every batch indexed
// (seq > upTo); with next, only if it is the very next message of the
// stream (seq == upTo+1), which Append asks for its own batches: one it
// did not index is read by the next catchUp.
func (x *runIndex) add(seq uint64, fps []uint32, next bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if seq <= x.upTo || next && seq != x.upTo+1 {
		return
	}
	x.upTo = seq
	x.batches = append(x.batches, indexedBatch{seq, fps})
	x.fps += len(fps)
	x.trim(0)
}

// trim drops the batches below first, and the oldest while more than max
// fingerprints are kept. Called with mu held.
func (x *runIndex) trim(first uint64) {
	i := 0
	for i < len(x.batches) && (x.batches[i].seq < first || x.fps > x.max) {
		x.fps -= len(x.batches[i].fps)
		x.batches[i] = indexedBatch{}
		i++
	}
	if i > 0 {
		x.batches = x.batches[i:]
	}
}

// reached records that every batch at or below seq is indexed (or gone)
// and drops those below first, the stream's first sequence.
func (x *runIndex) reached(seq, first uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.upTo = max(x.upTo, seq)
	x.trim(first)
}

// next returns the first sequence not indexed yet.
func (x *runIndex) next() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.upTo + 1
}

// any reports whether a batch is indexed.
func (x *runIndex) any() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.batches) > 0
}

// find returns the sequences of the batches that may hold records of the
// fingerprint fp, in increasing order.
func (x *runIndex) find(fp uint32) []uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []uint64
	for i := range x.batches {
		if _, ok := slices.BinarySearch(x.batches[i].fps, fp); ok {
			out = append(out, x.batches[i].seq)
		}
	}
	return out
}

// sortedFingerprints returns the sorted fingerprints of entries.
func sortedFingerprints(entries []batchEntry) []uint32 {
	fps := make([]uint32, len(entries))
	for i, e := range entries {
		fps[i] = e.fp
	}
	slices.Sort(fps)
	return fps
}
