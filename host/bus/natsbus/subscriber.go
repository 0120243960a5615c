package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// Pull requests.
const (
	// pullExpiry is how long a pull request waits for messages. Short, so
	// that a request the server lost (a restart, a leader change) stalls
	// a consumer for a few seconds at most (see RATIONALE.md, "Why our own
	// pull loop?").
	pullExpiry = 2 * time.Second
	// pullGrace is how long after its expiry a request whose end was not
	// reported is taken for lost.
	pullGrace = time.Second
	// maxPull caps the messages one pull request asks for.
	maxPull = 512
	// askAhead is how much work a pull request may ask for beyond what
	// the callers waiting want: as many messages as the callers took in
	// that long, at the rate measured between the last two requests, and
	// at most twice as many as they took between them (see RATIONALE.md,
	// "Why ask ahead?").
	askAhead = 50 * time.Millisecond
)

// Acknowledgement payloads of JetStream.
var (
	ackAck  = []byte("+ACK")
	ackNak  = []byte("-NAK")
	ackTerm = []byte("+TERM")
	// ackProgress restarts the message's ack wait.
	ackProgress = []byte("+WPI")
	// ackRelease gives a message back for immediate redelivery, even
	// after a restart of the server: a plain Nak only queues it in
	// memory, a Nak with a delay also rewrites its stored deadline.
	ackRelease = []byte(`-NAK {"delay":1000000}`)
)

// subscriber is one consumer of a subscription: a connection of its own, an
// inbox for the messages its pull requests ask for, and the messages that
// arrived but were not handed out yet.
type subscriber struct {
	b    *Bus
	sub  *subscription
	nc   *nats.Conn
	isub *nats.Subscription
	// inbox is the prefix of the reply subjects of its pull requests: each
	// request has its own (inbox + number), so that the end of an old
	// request is not taken for the end of the current one.
	inbox string
	next  string // the subject of pull requests
	cons  string // the name of its JetStream consumer
	// part is the partition it pulls, in a partitioned subscription: it
	// hands out the events of that partition and acknowledges the others.
	part int
	// last is the delivery it handed out last, for a partition's pump
	// (which fetches one at a time) to give back when it closes.
	last *delivery

	sem        chan struct{} // held by the one Next or Fetch that pulls
	callers    atomic.Int32  // Next and Fetch calls in progress, pulling or waiting to
	wake       chan struct{} // something arrived in the inbox
	done       chan struct{} // closed by close
	closeOnce  sync.Once
	connClosed atomic.Bool

	// Guarded by sem.
	scratch []*nats.Msg
	req     []byte
	timer   *time.Timer
	handed  int       // deliveries handed out since the last request
	lastReq time.Time // when the last request was sent
	rate    float64   // deliveries handed out per second between the last two requests

	mu          sync.Mutex
	ready       []*nats.Msg // delivered by the server, not handed out yet
	head        int
	want        int       // messages the open request may still deliver
	reqNo       uint64    // number of the open request
	reqDeadline time.Time // when the open request is taken for lost
	gone        bool      // the server said the consumer was deleted
	noResp      bool      // no one answered the last request
	closed      bool
	closeErr    error
}

var _ bus.Subscriber = (*subscriber)(nil)

func newSubscriber(b *Bus, s *subscription, part int) (*subscriber, error) {
	c := &subscriber{
		b:     b,
		sub:   s,
		cons:  partName(s.name, part),
		part:  part,
		next:  b.nextPrefix + partName(s.name, part),
		sem:   make(chan struct{}, 1),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
		timer: time.NewTimer(time.Hour),
	}
	c.timer.Stop()
	nc, err := b.connect("/"+c.cons, c.reconnected)
	if err != nil {
		return nil, err
	}
	c.nc = nc
	c.inbox = nc.NewInbox() + "."
	if c.isub, err = nc.Subscribe(c.inbox+"*", c.onMsg); err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: subscribe %q: %w", s.name, err)
	}
	// Pull requests bound what arrives; never drop any of it.
	_ = c.isub.SetPendingLimits(-1, -1)
	return c, nil
}

// reconnected forgets the open request: the server lost it with the
// connection.
func (c *subscriber) reconnected() {
	c.mu.Lock()
	c.want = 0
	c.mu.Unlock()
	c.signal()
}

func (c *subscriber) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// onMsg receives a message or a status of a pull request.
func (c *subscriber) onMsg(m *nats.Msg) {
	if m.Reply == "" {
		if st := m.Header.Get(hdrStatus); st != "" {
			c.onStatus(m, st)
			return
		}
	}
	if c.skip(m) {
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = c.send(m.Reply, ackRelease)
		return
	}
	c.ready = append(c.ready, m)
	if c.want > 0 {
		c.want--
	}
	c.mu.Unlock()
	c.signal()
}

func (c *subscriber) onStatus(m *nats.Msg, status string) {
	no, _ := strconv.ParseUint(strings.TrimPrefix(m.Subject, c.inbox), 10, 64)
	c.mu.Lock()
	current := no == c.reqNo
	switch status {
	case "100": // a heartbeat (not asked for)
	case "409":
		// Consumer Deleted, Exceeded MaxWaiting, Leadership Change, ...
		if strings.Contains(strings.ToLower(m.Header.Get(hdrDescription)), "deleted") {
			c.gone = true
		}
		if current {
			c.want = 0
		}
	case "503": // no responders: no consumer, or no JetStream
		if current {
			c.want, c.noResp = 0, true
		}
	default: // 404 and 408: the request is over
		if current {
			c.want = 0
		}
	}
	c.mu.Unlock()
	c.signal()
}

// skip acknowledges at once, as it arrives, a message of a partitioned
// subscription that belongs to another partition, and reports whether it
// did: the server hands out the partition's next message only once this
// one is settled, so the sooner the better.
func (c *subscriber) skip(m *nats.Msg) bool {
	cfg := c.sub.cfg.Load()
	if cfg.partitions <= 0 {
		return false
	}
	_, seq, ok := parseAckReply(m.Reply)
	if !ok || !cfg.selects(c.b, m.Subject, seq) {
		return false // hand says why, or acknowledges it
	}
	e, err := decodeEvent(m.Header, m.Data)
	if err != nil {
		return false
	}
	if p := cfg.partition(e); p < 0 || p == c.part {
		return false
	}
	_ = c.send(m.Reply, ackAck)
	c.mu.Lock()
	if c.want > 0 {
		c.want--
	}
	over := c.want == 0
	c.mu.Unlock()
	if over {
		c.signal() // the request is over: the next call asks again
	}
	return true
}

// Next implements bus.Subscriber.
func (c *subscriber) Next(ctx context.Context) (bus.Delivery, error) {
	var buf [1]bus.Delivery
	if _, err := c.Fetch(ctx, buf[:]); err != nil {
		return bus.Delivery{}, err
	}
	return buf[0], nil
}

// Fetch implements bus.Subscriber. At most one call at a time pulls from
// the server, with at most one open pull request for len(buf) messages, or
// one per call in progress when there are more of them (callers blocked
// behind this one: a dispatcher's workers each calling Next); messages of
// that request that arrive after the call returned are kept for the next
// call.
func (c *subscriber) Fetch(ctx context.Context, buf []bus.Delivery) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.callers.Add(1)
	defer c.callers.Add(-1)
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-c.done:
		return 0, c.closedErr()
	}
	defer func() { <-c.sem }()
	// Settings changed by another process reach a process that only
	// consumes this way.
	c.b.maybeRefresh()
	for {
		c.mu.Lock()
		if c.closed {
			err := c.closeErr
			c.mu.Unlock()
			return 0, err
		}
		if c.head < len(c.ready) {
			k := min(len(buf), len(c.ready)-c.head)
			c.scratch = append(c.scratch[:0], c.ready[c.head:c.head+k]...)
			clear(c.ready[c.head : c.head+k])
			c.head += k
			if c.head == len(c.ready) {
				c.ready, c.head = c.ready[:0], 0
			}
			c.mu.Unlock()
			if n := c.hand(c.scratch, buf); n > 0 {
				c.handed += n
				return n, nil
			}
			continue
		}
		if c.gone {
			c.mu.Unlock()
			return 0, fmt.Errorf("natsbus: subscription %q deleted: %w", c.sub.name, bus.ErrClosed)
		}
		now := time.Now()
		if c.want > 0 && now.After(c.reqDeadline) {
			c.want = 0 // lost
		}
		noResp := c.noResp
		c.noResp = false
		var send, ahead bool
		var no uint64
		if c.want == 0 && !noResp {
			c.reqNo++
			no, send = c.reqNo, true
			c.want, ahead = c.ask(len(buf), now)
			c.reqDeadline = now.Add(pullExpiry + pullGrace)
		}
		want, deadline := c.want, c.reqDeadline
		c.mu.Unlock()
		if noResp {
			if err := c.checkConsumer(ctx); err != nil {
				return 0, err
			}
			continue
		}
		if send {
			c.req = strconv.AppendInt(append(c.req[:0], `{"batch":`...), int64(want), 10)
			if ahead {
				// Only what is stored now: the request ends (404) at the
				// end of the stream instead of waiting for new events.
				c.req = append(c.req, `,"no_wait":true`...)
			} else {
				c.req = strconv.AppendInt(append(c.req, `,"expires":`...), int64(pullExpiry), 10)
			}
			c.req = append(c.req, '}')
			if err := c.nc.PublishRequest(c.next, c.inbox+strconv.FormatUint(no, 10), c.req); err != nil {
				c.mu.Lock()
				c.want = 0
				c.mu.Unlock()
				if c.connClosed.Load() || c.nc.IsClosed() {
					return 0, c.closedErr()
				}
				if err := c.pause(ctx, 100*time.Millisecond); err != nil {
					return 0, err
				}
				continue
			}
		}
		c.timer.Reset(time.Until(deadline))
		select {
		case <-c.wake:
		case <-c.timer.C:
		case <-ctx.Done():
			c.timer.Stop()
			return 0, ctx.Err()
		case <-c.done:
			c.timer.Stop()
			return 0, c.closedErr()
		}
		c.timer.Stop()
	}
}

// ask returns how many messages a new pull request asks for, and whether
// it asks ahead. It asks for n, for this caller, or for one message per
// caller waiting behind it (one round trip serves them all), and waits up
// to pullExpiry for them. While the callers take deliveries quickly, it
// asks ahead instead: for as many as they took in askAhead at the rate
// measured since the previous request, and at most twice as many as they
// took since then (up to maxPull), of the messages stored now only, so
// that busy callers get their next deliveries without a round trip each
// time, and events published later still go to whichever consumer asks
// for them.
//
// Why twice at most? Callers that were all waiting take a burst of
// deliveries within a few milliseconds (a fresh consumer's workers, or
// workers that waited for events), which is a backlog of callers, not a
// rate: measured between two requests that close, it makes thousands a
// second, and without this bound the consumer asked for maxPull while each
// caller came back once a second, hoarding messages that another process
// sharing the subscription waited for (see RATIONALE.md, "Why ask
// ahead?"). Callers that keep up take all they asked for, so each request
// asks for twice the last, and maxPull is reached within a few round
// trips. The caller holds sem.
func (c *subscriber) ask(n int, now time.Time) (int, bool) {
	if !c.lastReq.IsZero() {
		if el := now.Sub(c.lastReq); el > 0 {
			c.rate = float64(c.handed) / el.Seconds()
		}
	}
	took := c.handed
	c.lastReq, c.handed = now, 0
	if c.sub.cfg.Load().partitions > 0 {
		// The server hands out one message at a time (MaxAckPending 1):
		// one long request serves them all, and skipped messages need no
		// round trip of their own.
		return maxPull, false
	}
	n = min(max(n, int(c.callers.Load())), maxPull)
	if ahead := min(int(c.rate*askAhead.Seconds()), 2*took, maxPull); ahead > n {
		return ahead, true
	}
	return n, false
}

// checkConsumer follows a pull request that no one answered: the consumer
// is gone (ErrClosed), or JetStream is not available for now (wait a
// little and try again).
func (c *subscriber) checkConsumer(ctx context.Context) error {
	// A short bound: while the connection is down the answer may never
	// come, and the caller's deadline may be far away.
	actx, cancel := context.WithTimeout(ctx, pullExpiry)
	_, err := c.b.events.Consumer(actx, c.cons)
	cancel()
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		c.mu.Lock()
		c.gone = true
		c.mu.Unlock()
		return nil // the loop reports it
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	}
	return c.pause(ctx, 250*time.Millisecond)
}

// pause waits for d, or returns why it cannot.
func (c *subscriber) pause(ctx context.Context, d time.Duration) error {
	c.timer.Reset(d)
	defer c.timer.Stop()
	select {
	case <-c.timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.closedErr()
	}
}

// hand turns messages into deliveries in buf and returns how many. A
// message that the subscription does not select, that is not a
// CloudEvent, or that has run out of attempts is settled here instead.
func (c *subscriber) hand(msgs []*nats.Msg, buf []bus.Delivery) int {
	n := 0
	for i, m := range msgs {
		msgs[i] = nil
		attempt, seq, ok := parseAckReply(m.Reply)
		if !ok {
			c.b.log.Warn("natsbus: a message without a JetStream reply subject", slog.String("subject", m.Subject))
			continue
		}
		cfg := c.sub.cfg.Load()
		if !cfg.selects(c.b, m.Subject, seq) {
			_ = c.send(m.Reply, ackAck)
			continue
		}
		e, err := decodeEvent(m.Header, m.Data)
		if err != nil {
			c.b.log.Error("natsbus: dropped a message that is not a CloudEvent; it stays in the stream",
				slog.String("subscription", c.sub.name), slog.Uint64("seq", seq), slog.Any("error", err))
			_ = c.send(m.Reply, ackTerm)
			c.b.settled(c.sub)
			continue
		}
		if p := cfg.partition(e); p >= 0 && p != c.part {
			_ = c.send(m.Reply, ackAck) // another partition's
			continue
		}
		d := &delivery{c: c, sub: c.sub, reply: m.Reply, seq: seq, attempt: attempt, ev: e}
		if attempt > cfg.maxAttempts {
			// The last attempt expired in a process that died, or its
			// dead letter could not be written: write it now.
			d.state.Store(1)
			_ = d.deadLetter(bus.ReasonAckWait, attempt-1, false)
			continue
		}
		c.sub.track(d)
		if attempt == cfg.maxAttempts {
			// The server would deliver the event again after the ack
			// wait, to whichever consumer pulls next; the bus
			// dead-letters it then itself, whether anyone pulls or not.
			d.watch = time.AfterFunc(cfg.ackWait, d.expire)
		}
		buf[n] = bus.NewDelivery(e, attempt, d, 0)
		c.last = d
		n++
	}
	return n
}

// send publishes an acknowledgement: on the consumer's connection while it
// is open, on the bus's afterwards.
func (c *subscriber) send(reply string, payload []byte) error {
	if !c.connClosed.Load() {
		err := c.nc.Publish(reply, payload)
		if err == nil || !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrConnectionDraining) {
			return err
		}
	}
	return c.b.nc.Publish(reply, payload)
}

func (c *subscriber) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr != nil {
		return c.closeErr
	}
	return fmt.Errorf("natsbus: consumer of %q closed: %w", c.sub.name, bus.ErrClosed)
}

// Close implements bus.Subscriber. Messages that arrived for it but were
// not handed out are released for immediate redelivery (their attempt
// counts grow by one); deliveries it handed out stay valid.
func (c *subscriber) Close() error {
	c.close(nil)
	return nil
}

func (c *subscriber) close(cause error) {
	c.closeOnce.Do(func() {
		c.b.mu.Lock()
		delete(c.sub.consumers, c)
		c.b.mu.Unlock()
		c.mu.Lock()
		c.closed = true
		if cause == nil {
			cause = fmt.Errorf("natsbus: consumer of %q closed: %w", c.sub.name, bus.ErrClosed)
		}
		c.closeErr = cause
		parked := c.ready[c.head:]
		c.ready, c.head = nil, 0
		c.mu.Unlock()
		close(c.done)
		for _, m := range parked {
			_ = c.send(m.Reply, ackRelease)
		}
		// Draining delivers what is in flight to onMsg, which naks it.
		drain(c.nc)
		c.connClosed.Store(true)
	})
}

// delivery is the Settler of one delivery.
type delivery struct {
	c       *subscriber
	sub     *subscription
	reply   string
	seq     uint64 // stream sequence
	attempt int
	ev      *event.Event
	state   atomic.Uint32 // 1 once settled
	watch   *time.Timer   // expires the last attempt

	prev, next *delivery // in sub.inflight, guarded by sub.mu
}

// begin claims the settlement of d.
func (d *delivery) begin() error {
	if d.c.b.closed.Load() {
		return errClosed
	}
	if d.sub.deleted.Load() {
		return fmt.Errorf("natsbus: subscription %q deleted: %w", d.sub.name, bus.ErrClosed)
	}
	if !d.state.CompareAndSwap(0, 1) {
		return bus.ErrSettled
	}
	if d.watch != nil {
		d.watch.Stop()
	}
	d.sub.untrack(d)
	return nil
}

// expire dead-letters a last attempt that was not settled within the ack
// wait.
func (d *delivery) expire() {
	if d.c.b.closed.Load() || d.sub.deleted.Load() || !d.state.CompareAndSwap(0, 1) {
		return
	}
	d.sub.untrack(d)
	if err := d.deadLetter(bus.ReasonAckWait, d.attempt, false); err != nil {
		d.c.b.log.Warn("natsbus: dead letter of an expired last attempt", slog.Any("error", err))
	}
}

// Extend implements bus.Settler with an in-progress acknowledgement, and
// restarts the watch of a last attempt.
func (d *delivery) Extend(uint64) error {
	if d.c.b.closed.Load() {
		return errClosed
	}
	if d.sub.deleted.Load() {
		return fmt.Errorf("natsbus: subscription %q deleted: %w", d.sub.name, bus.ErrClosed)
	}
	if d.state.Load() != 0 {
		return bus.ErrSettled
	}
	if d.watch != nil && !d.watch.Reset(d.sub.cfg.Load().ackWait) {
		return bus.ErrSettled // it expired meanwhile
	}
	return d.ackErr(d.c.send(d.reply, ackProgress))
}

// Ack implements bus.Settler.
func (d *delivery) Ack(uint64) error {
	if err := d.begin(); err != nil {
		return err
	}
	d.c.b.settled(d.sub)
	return d.ackErr(d.c.send(d.reply, ackAck))
}

// Nak implements bus.Settler: a Nak with a delay, or, on the last attempt,
// a dead letter and a Term.
func (d *delivery) Nak(_ uint64, delay time.Duration, reason string) error {
	if err := d.begin(); err != nil {
		return err
	}
	cfg := d.sub.cfg.Load()
	if d.attempt >= cfg.maxAttempts {
		return d.deadLetter(reason, d.attempt, false)
	}
	if delay < 0 {
		delay = cfg.backoff.Delay(d.attempt)
	}
	payload := ackNak
	if delay > 0 {
		payload = strconv.AppendInt([]byte(`-NAK {"delay":`), int64(delay), 10)
		payload = append(payload, '}')
	}
	return d.ackErr(d.c.send(d.reply, payload))
}

// Term implements bus.Settler.
func (d *delivery) Term(_ uint64, reason string) error {
	if err := d.begin(); err != nil {
		return err
	}
	return d.deadLetter(reason, d.attempt, true)
}

// deadLetter writes the dead letter of d, then terminates the message. If
// the dead letter cannot be written, the message is delivered again after
// a second instead, past its last attempt: the consumer that gets it tries
// again (with ReasonAckWait, the reason given here being lost).
func (d *delivery) deadLetter(reason string, attempts int, terminated bool) error {
	b := d.c.b
	ctx, cancel := context.WithTimeout(b.ctx, apiTimeout)
	defer cancel()
	if err := b.writeDeadLetter(ctx, d.sub.name, d.seq, d.ev, reason, attempts, terminated); err != nil {
		_ = d.c.send(d.reply, []byte(`-NAK {"delay":1000000000}`))
		return err
	}
	b.settled(d.sub)
	return d.ackErr(d.c.send(d.reply, ackTerm))
}

func (d *delivery) ackErr(err error) error {
	if err != nil {
		return fmt.Errorf("natsbus: settle: %w", err)
	}
	return nil
}

// parseAckReply reads the delivery count and stream sequence from the
// reply subject of a JetStream message:
//
//	$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>
//	$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>.<token>
func parseAckReply(reply string) (delivered int, seq uint64, ok bool) {
	rest, ok := strings.CutPrefix(reply, "$JS.ACK.")
	if !ok {
		return 0, 0, false
	}
	var toks [12]string
	n := 2
	for n < len(toks) {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			toks[n] = rest
			n++
			break
		}
		toks[n], rest = rest[:i], rest[i+1:]
		n++
	}
	var dt, st string
	switch {
	case n == 9:
		dt, st = toks[4], toks[5]
	case n >= 11:
		dt, st = toks[6], toks[7]
	default:
		return 0, 0, false
	}
	d, err1 := strconv.ParseUint(dt, 10, 31)
	s, err2 := strconv.ParseUint(st, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return int(d), s, true
}
