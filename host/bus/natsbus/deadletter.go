package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// Dead letters live in the stream <prefix>_dlq, one message per dead
// letter on the subject <prefix>.dlq.<subscription>: the event in binary
// mode, and Evhost-* headers for the subscription, the reason, the
// attempts, whether it was terminated and the event's sequence in the
// events stream. A dead letter's ID is its sequence in that stream, and its
// Time the time the stream stored it.
//
// A consumer writes a dead letter before it terminates the message: when
// it is told to (Term), when the last attempt fails (Nak), when the last
// attempt's ack wait expires in its hands, and when the server delivers an
// event past its last attempt (the process that held the last attempt
// died). The Nats-Msg-Id dl.<subscription>.<sequence> makes writing one
// twice harmless (a crash between writing and terminating, or two
// processes racing at an expiry). See RATIONALE.md, "Why is MaxDeliver
// unlimited?".

// writeDeadLetter stores the dead letter of the event of stream sequence
// seq for subscription sub.
func (b *Bus) writeDeadLetter(ctx context.Context, sub string, seq uint64, e *event.Event, reason string, attempts int, terminated bool) error {
	h := deadLetterHeader(sub, seq, e, reason, attempts, terminated)
	if _, err := b.publishMsg(ctx, &nats.Msg{Subject: b.dlqPrefix + sub, Header: h, Data: e.Data}); err != nil {
		return fmt.Errorf("natsbus: write the dead letter of %s for %q: %w", e.ID, sub, err)
	}
	return nil
}

// deadLetterHeader is the header of the dead letter of event e (its data
// is the message's), which decodeDeadLetter reads.
func deadLetterHeader(sub string, seq uint64, e *event.Event, reason string, attempts int, terminated bool) nats.Header {
	seqs := strconv.FormatUint(seq, 10)
	h := eventHeader(e, "dl."+sub+"."+seqs, 5)
	setHeader(h, hdrSub, sub)
	setHeader(h, hdrReason, reason)
	setHeader(h, hdrAttempts, strconv.Itoa(attempts))
	setHeader(h, hdrTerminated, strconv.FormatBool(terminated))
	setHeader(h, hdrEventSeq, seqs)
	return h
}

// decodeDeadLetter decodes a message of the dead-letter stream.
func decodeDeadLetter(m *jetstream.RawStreamMsg) (bus.DeadLetter, error) {
	e, err := decodeEvent(m.Header, m.Data)
	if err != nil {
		return bus.DeadLetter{}, err
	}
	attempts, _ := strconv.Atoi(getHeader(m.Header, hdrAttempts))
	return bus.DeadLetter{
		ID:           m.Sequence,
		Event:        e,
		Subscription: getHeader(m.Header, hdrSub),
		Reason:       getHeader(m.Header, hdrReason),
		Attempts:     attempts,
		Terminated:   getHeader(m.Header, hdrTerminated) == "true",
		Time:         m.Time,
	}, nil
}

// DeadLetters implements bus.Bus. It reads the dead-letter stream from
// f.After on, one message per request, on the subscription's subject when
// f names one; filtering by event id alone reads every dead letter.
func (b *Bus) DeadLetters(ctx context.Context, f bus.DeadLetterFilter) ([]bus.DeadLetter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.closed.Load() {
		return nil, errClosed
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	subject := b.dlqPrefix + ">"
	if f.Subscription != "" {
		if !bus.ValidName(f.Subscription) {
			return nil, nil
		}
		subject = b.dlqPrefix + f.Subscription
	}
	var out []bus.DeadLetter
	for seq := f.After + 1; f.Limit <= 0 || len(out) < f.Limit; {
		m, err := b.dlq.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("natsbus: read dead letters: %w", err)
		}
		seq = m.Sequence + 1
		dl, err := decodeDeadLetter(m)
		if err != nil {
			b.log.Warn("natsbus: skipped a malformed dead letter", slog.Uint64("id", m.Sequence), slog.Any("error", err))
			continue
		}
		if f.Match(&dl) {
			out = append(out, dl)
		}
	}
	return out, nil
}

// Redrive implements bus.Bus. The event is published again on the subject
// <prefix>.redrive.<subscription>.<type>, which only that subscription's
// consumer selects, with the Nats-Msg-Id redrive.<id> (so that a redrive
// retried after a failure does not deliver it twice), and the dead letter
// is deleted.
func (b *Bus) Redrive(ctx context.Context, id uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed.Load() {
		return errClosed
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	notFound := fmt.Errorf("natsbus: dead letter %d: %w", id, bus.ErrNotFound)
	m, err := b.dlq.GetMsg(ctx, id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("natsbus: redrive %d: %w", id, err)
	}
	dl, err := decodeDeadLetter(m)
	if err != nil {
		return fmt.Errorf("natsbus: redrive %d: %w", id, err)
	}
	s, err := b.lookup(ctx, dl.Subscription)
	if err != nil {
		return fmt.Errorf("natsbus: redrive %d: %w", id, err)
	}
	if s == nil {
		return fmt.Errorf("natsbus: redrive %d: subscription %q: %w", id, dl.Subscription, bus.ErrNotFound)
	}
	var buf [1]*subscription
	held, err := b.reserve("", s, buf[:0])
	if err != nil {
		return err
	}
	msg := eventMsg(b.redrivePrefix+dl.Subscription+"."+dl.Event.Type, dl.Event, "redrive."+strconv.FormatUint(id, 10))
	r, err := b.publishMsg(ctx, msg)
	if err != nil {
		b.release(held)
		return err
	}
	if r.dup {
		b.release(held) // redriven before, and the dead letter was left
	}
	if err := b.dlq.DeleteMsg(ctx, id); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("natsbus: redrive %d: delete the dead letter: %w", id, err)
	}
	return nil
}

// lookup returns the subscription name, asking the server when this
// process does not know it, or nil if there is none.
func (b *Bus) lookup(ctx context.Context, name string) (*subscription, error) {
	if !bus.ValidName(name) {
		return nil, nil
	}
	info, err := b.events.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		b.forget(name)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.subs[name]
	if s == nil {
		ci := info.CachedInfo()
		cfg, ok := configFromMetadata(name, ci.Config.Metadata, ci.Config.AckWait)
		if !ok {
			return nil, nil // not an evhost subscription
		}
		s = newSubscription(name, cfg)
		b.subs[name] = s
		b.publishList()
	}
	return s, nil
}
