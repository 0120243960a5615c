package natsbus

import (
	"context"
	"errors"
	"fmt"
	"github.com/evhost/evhost/host/bus"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/event"
)

// Range selects recorded events (bus.Range).
type Range = bus.Range

// Recorded is one event read back (bus.Recorded).
type Recorded = bus.Recorded

// Read calls fn with each event of r, in stream order, until the range
// ends, fn returns an error (which Read returns), or ctx is done. Events
// the bus cannot decode are skipped and logged. It reads with an
// ephemeral ordered consumer, which does not touch any subscription.
func (b *Bus) Read(ctx context.Context, r Range, fn func(Recorded) error) error {
	if len(r.Patterns) == 0 {
		return errors.New("natsbus: read: no patterns")
	}
	if r.FromSeq != 0 && !r.FromTime.IsZero() || r.ToSeq != 0 && !r.ToTime.IsZero() {
		return errors.New("natsbus: read: set a sequence or a time for each end, not both")
	}
	pats, err := event.ParsePatterns(r.Patterns)
	if err != nil {
		return fmt.Errorf("natsbus: read: %w", err)
	}
	if b.closed.Load() {
		return errClosed
	}
	subjects, _ := filters(b.eventsPrefix, r.Patterns)
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case r.FromSeq != 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, r.FromSeq
	case !r.FromTime.IsZero():
		st := r.FromTime
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &st
	}
	setup, cancel := withTimeout(ctx)
	defer cancel()
	stream, err := b.js.Stream(setup, b.eventsStream)
	if err != nil {
		return fmt.Errorf("natsbus: read: %w", err)
	}
	last := stream.CachedInfo().State.LastSeq
	if r.ToSeq != 0 {
		last = min(last, r.ToSeq)
	}
	if last == 0 || r.FromSeq > last {
		return nil
	}
	cons, err := stream.OrderedConsumer(setup, cfg)
	if err != nil {
		return fmt.Errorf("natsbus: read: %w", err)
	}
	info, err := cons.Info(setup)
	if err != nil {
		return fmt.Errorf("natsbus: read: %w", err)
	}
	if info.NumPending == 0 {
		return nil
	}
	for {
		done, n, err := b.readBatch(ctx, cons, r, last, pats, fn)
		switch {
		case err != nil:
			return err
		case done:
			return nil
		case n == 0:
			return fmt.Errorf("natsbus: read: no message within 2s while %d were pending", info.NumPending)
		}
	}
}

// readBatch reads one batch of up to 256 messages for Read: done is true
// when the range has ended, n is the number of messages received.
func (b *Bus) readBatch(ctx context.Context, cons jetstream.Consumer, r Range, last uint64, pats []event.Pattern, fn func(Recorded) error) (done bool, n int, err error) {
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	batch, err := cons.Fetch(256, jetstream.FetchContext(fctx))
	if err != nil {
		return false, 0, fmt.Errorf("natsbus: read: %w", err)
	}
	for m := range batch.Messages() {
		n++
		md, err := m.Metadata()
		if err != nil {
			return false, n, fmt.Errorf("natsbus: read: %w", err)
		}
		seq := md.Sequence.Stream
		if seq > last || !r.ToTime.IsZero() && md.Timestamp.After(r.ToTime) {
			return true, n, nil
		}
		e, err := decodeEvent(m.Headers(), m.Data())
		if err != nil {
			b.log.Warn("read: skipping an undecodable message", "seq", seq, "error", err)
		} else if event.MatchAny(pats, e.Type) {
			if err := fn(Recorded{Seq: seq, Time: md.Timestamp, Event: e}); err != nil {
				return false, n, err
			}
		}
		if md.NumPending == 0 || seq == last {
			return true, n, nil
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil && fctx.Err() == nil {
		return false, n, fmt.Errorf("natsbus: read: %w", err)
	}
	return false, n, ctx.Err()
}
