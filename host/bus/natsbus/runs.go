package natsbus

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/runlog"
)

// The run log lives in the stream <prefix>_runs. Append writes the
// records of a call in batches, one message each (see runsbatch.go for
// the layout). Versions before it wrote one message per record, the
// record's JSON form as the body, on the subject <prefix>.runs.<event>,
// where <event> is 128 bits of SHA-256 of the event id in base64url (22
// characters: event ids are arbitrary strings, subjects are not); those
// are read as they were.
//
// ByEvent reads the records of the older layout with a lookup each on
// the event's subject (the next message on the subject from a sequence),
// which the server answers from its per-subject index, and those of
// batches with a read of each batch whose fingerprints (the index in
// memory) include the event's; it keeps those whose record has the event
// id asked for. List reads with an ephemeral consumer started at a
// sequence or a time, and filters in the client. Reads go to the
// stream's leader (direct gets with a single replica), so a record is
// read back as soon as Append has returned.
//
// The subscription is not in the subject of the older layout: with it
// (<event>.<subscription>) ByEvent would need a wildcard filter, which the
// server resolves from its index only while the stream has fewer than
// 65,536 subjects, and otherwise by visiting every block from the start
// sequence to the end of the stream. The delivery log (List by
// subscription) pays instead: it reads the records of every subscription
// from its start, so callers bound it with Since or After.

// DefaultRunsMaxAge is how long the run log keeps a record when
// RunsOptions.MaxAge is zero.
const DefaultRunsMaxAge = 7 * 24 * time.Hour

// RunsLinger is how long the daemon's runlog.Recorder waits for a batch
// to fill before appending to the run log (RecorderOptions.Linger): every
// Append costs at least one message, so a Recorder appending as soon as it
// can would write one message per few records under load.
const RunsLinger = 10 * time.Millisecond

// RunsOptions configure the run log's stream.
type RunsOptions struct {
	// MaxAge is how long a record is kept; zero means DefaultRunsMaxAge.
	MaxAge time.Duration
	// MaxBytes caps the stream; past it the oldest records are removed.
	// Zero means no cap (the disk, or the embedded server's MaxStore).
	MaxBytes int64
	// IndexRecords caps the records the in-memory index of batches
	// covers (4 bytes each): ByEvent does not find the records of
	// batches older than the newest IndexRecords records. Zero means
	// DefaultRunsIndexRecords.
	IndexRecords int
}

// Runs returns the run log kept on the bus's server: the stream
// <prefix>_runs (file storage, the bus's replicas, limits from opts),
// created or updated to opts. Append publishes the records of a call in
// batches of up to 1,024 records that fit in the server's maximum
// payload, one message each, with up to 256 messages waiting for their
// acknowledgement at once, and returns once every record is stored; a
// record larger than the server's maximum payload is shortened with
// runlog.AppendJSONLimit. Closing the store
// leaves the bus open; closing the bus closes the store.
func Runs(ctx context.Context, b *Bus, opts RunsOptions) (runlog.Store, error) {
	switch {
	case opts.MaxAge < 0:
		return nil, fmt.Errorf("%w: RunsOptions.MaxAge: negative", errOptions)
	case opts.MaxBytes < 0:
		return nil, fmt.Errorf("%w: RunsOptions.MaxBytes: negative", errOptions)
	case opts.IndexRecords < 0:
		return nil, fmt.Errorf("%w: RunsOptions.IndexRecords: negative", errOptions)
	}
	if opts.IndexRecords == 0 {
		opts.IndexRecords = DefaultRunsIndexRecords
	}
	if b.closed.Load() {
		return nil, errClosed
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultRunsMaxAge
	}
	maxBytes := opts.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	s := &runStore{
		b:          b,
		name:       b.opts.Prefix + "_runs",
		prefix:     b.opts.Prefix + ".runs.",
		maxPayload: int(b.nc.MaxPayload()),
		idx:        &runIndex{max: opts.IndexRecords},
	}
	var err error
	s.stream, err = b.createStream(ctx, jetstream.StreamConfig{
		Name:        s.name,
		Description: "evhost handler runs and their outcomes",
		Subjects:    []string{s.prefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      opts.MaxAge,
		MaxBytes:    maxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    b.replicas,
		// Batches carry no Nats-Msg-Id: there is nothing to deduplicate.
		Duplicates: time.Second,
		// A batch read with a direct get comes back as it is stored, not
		// base64 in JSON (a quarter of ByEvent's time and most of its
		// garbage); with replicas, a direct get may be answered by a
		// follower behind the leader, so reads stay on the leader.
		AllowDirect: b.replicas == 1,
	})
	if err != nil {
		return nil, streamErr(s.name, b.replicas, err)
	}
	// Read the index of the batches stored before (a restart) now, not
	// on the first lookup.
	wctx, stop := context.WithTimeout(context.Background(), warmTimeout)
	s.stopWarm, s.warmed = stop, make(chan struct{})
	go func() {
		defer close(s.warmed)
		defer stop()
		if _, err := s.catchUp(wctx); err != nil && wctx.Err() == nil && !s.closed.Load() && !b.closed.Load() {
			b.log.Warn("natsbus: runs: reading the index of the run log", slog.Any("error", err))
		}
	}()
	return s, nil
}

// warmTimeout bounds the reading of the index when the run log opens;
// lookups read what is left.
const warmTimeout = 10 * time.Minute

// runStore is a runlog.Store on the stream <prefix>_runs.
type runStore struct {
	b          *Bus
	stream     jetstream.Stream
	name       string // of the stream
	prefix     string // <prefix>.runs.
	maxPayload int
	idx        *runIndex
	stopWarm   context.CancelFunc // ends the first reading of the index
	warmed     chan struct{}      // closed when it has ended
	closed     atomic.Bool
}

var _ runlog.Store = (*runStore)(nil)

// check returns the error of an operation on a closed store or bus.
func (s *runStore) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return fmt.Errorf("natsbus: runs: %w", runlog.ErrClosed)
	}
	if s.b.closed.Load() {
		return errRunsBusClosed
	}
	return nil
}

// errRunsBusClosed is the error of the run log of a closed bus.
var errRunsBusClosed = fmt.Errorf("%w: runs: %w", errClosed, runlog.ErrClosed)

// token returns the subject token of an arbitrary string: 128 bits of
// SHA-256 of it, in base64url.
func token(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// subject returns the subject of the records of eventID in the layout
// of one message per record.
func (s *runStore) subject(eventID string) string {
	return s.prefix + token(eventID)
}

// batchSubject returns the subject of the batches.
func (s *runStore) batchSubject() string { return s.prefix + batchToken }

// Append implements runlog.Store. A batch that no stream answered
// (JetStream electing a leader) is tried again twice, its records not
// stored yet, a quarter of a second apart, as ctx allows.
func (s *runStore) Append(ctx context.Context, recs ...*runlog.Record) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := runlog.Check(recs); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		retry, err := s.publish(ctx, recs)
		if err == nil {
			return nil
		}
		if len(retry) == 0 || attempt == 2 {
			return err
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("natsbus: runs: append: %w", ctx.Err())
		case <-s.b.done:
			return errRunsBusClosed
		}
		recs = retry
	}
}

// publish publishes recs in batches with up to batchWindow of them
// waiting for their acknowledgement, sets the Seq of the records stored,
// and adds the batches to the index. On failure, retry holds the records
// to publish again: when every failure was a stream not answering, those
// of the batches that failed; otherwise none.
func (s *runStore) publish(ctx context.Context, recs []*runlog.Record) (retry []*runlog.Record, err error) {
	// The batches sent: the records of batches[i] are recs[lo:hi] with
	// lo the previous batch's hi.
	type sentBatch struct {
		hi  int
		fps []uint32
	}
	var batches []sentBatch
	enc := encoders.Get().(*batchEncoder)
	defer encoders.Put(enc)
	results := make([]pubResult, 0, 1)
	var tokens []uint64
	ch := make(chan pubResult, batchWindow)
	timer := time.NewTimer(apiTimeout)
	defer timer.Stop()
	subject := s.batchSubject()
	sent, got := 0, 0
	var sendErr, waitErr error
	receive := func() {
		timer.Reset(apiTimeout)
		select {
		case r := <-ch:
			results[r.i] = r
			got++
		case <-ctx.Done():
			waitErr = ctx.Err()
		case <-s.b.done:
			waitErr = errClosed
		case <-timer.C:
			waitErr = nats.ErrTimeout
		}
	}
	for lo := 0; lo < len(recs); {
		n, body, hdr, fps := enc.next(recs[lo:], s.maxPayload)
		i := len(batches)
		batches = append(batches, sentBatch{lo + n, fps})
		results = append(results, pubResult{})
		lo += n
		t := s.b.acks.register(ch, i)
		msg := nats.Msg{
			Subject: subject,
			Reply:   s.b.acks.prefix + strconv.FormatUint(t, 10),
			Header:  nats.Header{runsHeader: {hdr}},
			Data:    body,
		}
		if err := s.b.nc.PublishMsg(&msg); err != nil {
			s.b.acks.cancel(t)
			sendErr = s.b.publishErr(ctx, err)
			break
		}
		tokens = append(tokens, t)
		sent++
		for sent-got >= batchWindow && waitErr == nil {
			receive()
		}
		if waitErr != nil {
			break
		}
	}
	for got < sent && waitErr == nil {
		receive()
	}
	if waitErr != nil {
		s.b.acks.cancel(tokens...)
	}
	onlyNoStream := sendErr == nil && waitErr == nil
	for i := 0; i < sent; i++ {
		res := results[i]
		lo := 0
		if i > 0 {
			lo = batches[i-1].hi
		}
		brecs := recs[lo:batches[i].hi]
		switch {
		case res.err != nil:
			if err == nil {
				err = fmt.Errorf("natsbus: runs: append: %w", res.err)
			}
			if errors.Is(res.err, errNoStream) {
				retry = append(retry, brecs...)
			} else {
				onlyNoStream = false
			}
		case res.seq != 0:
			for j, r := range brecs {
				r.Seq = recordSeq(res.seq, j)
			}
			s.idx.add(res.seq, batches[i].fps, true)
		}
	}
	if err == nil {
		err = sendErr
	}
	if err == nil && waitErr != nil {
		err = fmt.Errorf("natsbus: runs: append: %w", waitErr)
	}
	if err != nil && s.b.closed.Load() {
		return nil, errRunsBusClosed
	}
	if !onlyNoStream {
		retry = nil
	}
	return retry, err
}

// ByEvent implements runlog.Store. It brings the index up to date with
// the stream first (catchUp), so that it sees the batches of other
// daemons too.
func (s *runStore) ByEvent(ctx context.Context, eventID string) ([]runlog.Record, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	olderLayout, err := s.catchUp(ctx)
	if err != nil {
		return nil, fmt.Errorf("natsbus: runs: records of event %q: %w", eventID, err)
	}
	var out []runlog.Record
	// The older layout: one message per record, on the event's subject.
	subject := s.subject(eventID)
	for seq := uint64(1); olderLayout; {
		m, err := s.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("natsbus: runs: records of event %q: %w", eventID, err)
		}
		seq = m.Sequence + 1
		r, err := runlog.DecodeJSON(m.Data)
		if err != nil {
			s.b.log.Warn("natsbus: runs: skipped a malformed record", slog.Uint64("seq", m.Sequence), slog.Any("error", err))
			continue
		}
		if r.EventID != eventID {
			continue
		}
		r.Seq = recordSeq(m.Sequence, 0)
		out = append(out, *r)
	}
	old := len(out)
	fp := fingerprint(eventID)
	for _, seq := range s.idx.find(fp) {
		m, err := s.stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // removed by the stream's limits meanwhile
		}
		if err != nil {
			return out, fmt.Errorf("natsbus: runs: records of event %q: %w", eventID, err)
		}
		out = s.appendBatch(out, m.Sequence, m.Header.Get(runsHeader), m.Data, func(e batchEntry, r *runlog.Record) bool {
			return e.fp == fp && (r == nil || r.EventID == eventID)
		})
	}
	if old > 0 && len(out) > old {
		// Both layouts (a daemon of each version on one stream): in
		// append order.
		slices.SortStableFunc(out, func(a, b runlog.Record) int { return cmp.Compare(a.Seq, b.Seq) })
	}
	return out, nil
}

// appendBatch appends to out the records of the batch message of stream
// sequence seq that keep selects (called with a nil record first, to
// skip decoding the records it would refuse), with their Seq, and returns
// out. A malformed batch or record is logged and skipped.
func (s *runStore) appendBatch(out []runlog.Record, seq uint64, hdr string, body []byte, keep func(batchEntry, *runlog.Record) bool) []runlog.Record {
	entries, err := parseBatch(hdr, body, true)
	if err != nil {
		s.b.log.Warn("natsbus: runs: skipped a malformed batch", slog.Uint64("seq", seq), slog.Any("error", err))
		return out
	}
	off := 0
	for i, e := range entries {
		js := body[off : off+e.len]
		off += e.len + 1
		if !keep(e, nil) {
			continue
		}
		r, err := runlog.DecodeJSON(js)
		if err != nil {
			s.b.log.Warn("natsbus: runs: skipped a malformed record", slog.Uint64("seq", seq), slog.Int("index", i), slog.Any("error", err))
			continue
		}
		r.Seq = recordSeq(seq, i)
		if keep(e, r) {
			out = append(out, *r)
		}
	}
	return out
}

// catchUp brings the index up to date with the stream: it reads the
// headers of the batches stored since the last one indexed (all of them
// after a restart), and forgets those the stream removed. It reports
// whether the stream may hold records of the older layout: unless its
// one subject is the batches' (nothing else has a message).
func (s *runStore) catchUp(ctx context.Context) (olderLayout bool, err error) {
	x := s.idx
	x.sync.Lock()
	defer x.sync.Unlock()
	info, err := s.stream.Info(ctx)
	if err != nil {
		return true, err
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	defer func() { olderLayout = info.State.NumSubjects > 1 || info.State.NumSubjects == 1 && !x.any() }()
	from := max(x.next(), first)
	if from > last {
		x.reached(last, first)
		return true, nil
	}
	cons, err := s.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Description:       "evhost: run log index",
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     s.batchSubject(),
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		HeadersOnly:       true,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute, // should its deletion below fail
	})
	if err != nil {
		return true, err
	}
	defer func() {
		dctx, cancel := withTimeout(context.WithoutCancel(ctx))
		defer cancel()
		_ = s.stream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	for pending := cons.CachedInfo().NumPending; pending > 0; {
		batch, err := cons.FetchNoWait(int(min(pending, 1024)))
		if err != nil {
			return true, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			pending = md.NumPending
			entries, err := parseBatch(m.Headers().Get(runsHeader), nil, false)
			if err != nil {
				s.b.log.Warn("natsbus: runs: skipped a malformed batch", slog.Uint64("seq", md.Sequence.Stream), slog.Any("error", err))
				continue
			}
			x.add(md.Sequence.Stream, sortedFingerprints(entries), false)
		}
		if err := batch.Error(); err != nil {
			return true, err
		}
		if got == 0 {
			break // the batches pending were removed meanwhile
		}
	}
	x.reached(last, first)
	return true, nil
}

// listBatch is how many messages List asks the server for at once (a
// batch holds up to 1,024 records).
const listBatch = 64

// clockSlack is how far before f.Since List starts reading: a record is
// stored after its run started, but by the server's clock, which may be
// behind the clock of the host that ran it.
const clockSlack = 5 * time.Second

// List implements runlog.Store. It reads from f.After when set, else from
// the records the server stored since f.Since less five seconds (for
// clocks that disagree), and keeps those that f selects.
func (s *runStore) List(ctx context.Context, f runlog.Filter) ([]runlog.Record, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	cfg := jetstream.ConsumerConfig{
		Description:       "evhost: run log listing",
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     s.prefix + ">",
		MemoryStorage:     true,
		InactiveThreshold: time.Minute, // should its deletion below fail
	}
	switch {
	case f.After > 0:
		// The message of the record f.After: the batch may hold later
		// records.
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, max(f.After>>seqShift, 1)
	case !f.Since.IsZero():
		since := f.Since.Add(-clockSlack)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	default:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	cons, err := s.stream.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("natsbus: runs: list: %w", err)
	}
	defer func() {
		dctx, cancel := withTimeout(context.WithoutCancel(ctx))
		defer cancel()
		_ = s.stream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	limit := f.Max()
	batchSubject := s.batchSubject()
	pending := cons.CachedInfo().NumPending
	var out []runlog.Record
	for pending > 0 && len(out) < limit {
		batch, err := cons.FetchNoWait(int(min(pending, listBatch)))
		if err != nil {
			return out, fmt.Errorf("natsbus: runs: list: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			pending = md.NumPending
			if m.Subject() == batchSubject {
				out = s.appendBatch(out, md.Sequence.Stream, m.Headers().Get(runsHeader), m.Data(), func(_ batchEntry, r *runlog.Record) bool {
					return r == nil || f.Match(r)
				})
				out = out[:min(len(out), limit)]
				continue
			}
			r, err := runlog.DecodeJSON(m.Data())
			if err != nil {
				s.b.log.Warn("natsbus: runs: skipped a malformed record", slog.Uint64("seq", md.Sequence.Stream), slog.Any("error", err))
				continue
			}
			r.Seq = recordSeq(md.Sequence.Stream, 0)
			if len(out) < limit && f.Match(r) {
				out = append(out, *r)
			}
		}
		if err := batch.Error(); err != nil {
			return out, fmt.Errorf("natsbus: runs: list: %w", err)
		}
		if got == 0 {
			break // the records pending were removed meanwhile
		}
	}
	return out, nil
}

// Close implements runlog.Store. It leaves the bus and the stream as they
// are.
func (s *runStore) Close(context.Context) error {
	s.closed.Store(true)
	s.stopWarm()
	<-s.warmed
	return nil
}
