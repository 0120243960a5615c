package natsbus

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/runlog"
)

// The run log lives in the stream <prefix>_runs, one message per run
// record: the record's JSON form (runlog.AppendJSON) as the body, no
// headers, on the subject <prefix>.runs.<event>, where <event> is 128 bits
// of SHA-256 of the event id in base64url (22 characters: event ids are
// arbitrary strings, subjects are not).
//
// ByEvent reads the messages of that one subject with a lookup each (the
// next message on the subject from a sequence), which the server answers
// from its per-subject index, and keeps those whose record has the event id
// asked for (the hash is long enough that it never matters; exact all the
// same). List reads with an ephemeral consumer started at a sequence or a
// time, and filters in the client. Reads go to the stream's leader, so a
// record is read back as soon as Append has returned.
//
// A lookup costs the server a walk over the messages between two records
// of the event that share a file block (its index says which blocks hold
// the subject and where its first record in each is, not where the next
// is): BenchmarkRunsByEvent measured 0.45 ms for five records a hundred
// records apart, and 3 ms ten thousand apart, among 50,000.
//
// The subscription is not in the subject: with it (<event>.<subscription>)
// ByEvent would need a wildcard filter, which the server resolves from its
// index only while the stream has fewer than 65,536 subjects (one per
// event and subscription here), and otherwise by visiting every block from
// the start sequence to the end of the stream; even with 50,000 subjects
// it measured about three times slower. The delivery log
// (List by subscription) pays instead: it reads the records of every
// subscription from its start, so callers bound it with Since or After.

// DefaultRunsMaxAge is how long the run log keeps a record when
// RunsOptions.MaxAge is zero.
const DefaultRunsMaxAge = 7 * 24 * time.Hour

// RunsOptions configure the run log's stream.
type RunsOptions struct {
	// MaxAge is how long a record is kept; zero means DefaultRunsMaxAge.
	MaxAge time.Duration
	// MaxBytes caps the stream; past it the oldest records are removed.
	// Zero means no cap (the disk, or the embedded server's MaxStore).
	MaxBytes int64
}

// Runs returns the run log kept on the bus's server: the stream
// <prefix>_runs (file storage, the bus's replicas, limits from opts),
// created or updated to opts. Append publishes a batch with up to 256
// records waiting for their acknowledgement at once and returns once
// every record is stored; a record larger than the server's maximum
// payload is shortened with runlog.AppendJSONLimit. Closing the store
// leaves the bus open; closing the bus closes the store.
func Runs(ctx context.Context, b *Bus, opts RunsOptions) (runlog.Store, error) {
	switch {
	case opts.MaxAge < 0:
		return nil, fmt.Errorf("%w: RunsOptions.MaxAge: negative", errOptions)
	case opts.MaxBytes < 0:
		return nil, fmt.Errorf("%w: RunsOptions.MaxBytes: negative", errOptions)
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
		// Records carry no Nats-Msg-Id: there is nothing to deduplicate.
		Duplicates: time.Second,
	})
	if err != nil {
		return nil, streamErr(s.name, b.replicas, err)
	}
	return s, nil
}

// runStore is a runlog.Store on the stream <prefix>_runs.
type runStore struct {
	b          *Bus
	stream     jetstream.Stream
	name       string // of the stream
	prefix     string // <prefix>.runs.
	maxPayload int
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

func (s *runStore) subject(eventID string) string {
	return s.prefix + token(eventID)
}

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

// publish publishes recs with up to batchWindow of them waiting for their
// acknowledgement, and sets the Seq of those stored. On failure, retry
// holds the records to publish again: when every failure was a stream not
// answering, those that failed; otherwise none.
func (s *runStore) publish(ctx context.Context, recs []*runlog.Record) (retry []*runlog.Record, err error) {
	n := len(recs)
	results := make([]pubResult, n)
	tokens := make([]uint64, 0, n)
	ch := make(chan pubResult, min(n, batchWindow))
	timer := time.NewTimer(apiTimeout)
	defer timer.Stop()
	var buf []byte
	var msg nats.Msg // PublishMsg copies what it sends: one will do
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
	for i, r := range recs {
		buf = runlog.AppendJSONLimit(buf[:0], r, s.maxPayload)
		t := s.b.acks.register(ch, i)
		msg.Subject, msg.Data = s.subject(r.EventID), buf
		msg.Reply = s.b.acks.prefix + strconv.FormatUint(t, 10)
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
		switch {
		case res.err != nil:
			if err == nil {
				err = fmt.Errorf("natsbus: runs: append: %w", res.err)
			}
			if errors.Is(res.err, errNoStream) {
				retry = append(retry, recs[i])
			} else {
				onlyNoStream = false
			}
		case res.seq != 0:
			recs[i].Seq = res.seq
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

// ByEvent implements runlog.Store.
func (s *runStore) ByEvent(ctx context.Context, eventID string) ([]runlog.Record, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	subject := s.subject(eventID)
	var out []runlog.Record
	for seq := uint64(1); ; {
		m, err := s.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
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
		r.Seq = m.Sequence
		out = append(out, *r)
	}
}

// listBatch is how many records List asks the server for at once.
const listBatch = 256

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
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, f.After+1
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
			r, err := runlog.DecodeJSON(m.Data())
			if err != nil {
				s.b.log.Warn("natsbus: runs: skipped a malformed record", slog.Uint64("seq", md.Sequence.Stream), slog.Any("error", err))
				continue
			}
			r.Seq = md.Sequence.Stream
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
	return nil
}
