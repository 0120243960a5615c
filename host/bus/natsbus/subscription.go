package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// subscription is what this process knows of one subscription: its
// settings, an estimate of its queue length for the backpressure check,
// its consumers here and their unsettled deliveries. Subscriptions made
// by other processes are known from the server's list of consumers.
type subscription struct {
	name    string
	cfg     atomic.Pointer[subConfig]
	deleted atomic.Bool
	paused  atomic.Bool // as the last refresh, or a Pause or Resume here, saw it
	born    time.Time   // when this process first knew it
	local   bool        // Subscribe was called for it here; guarded by Bus.mu
	cfgAt   time.Time   // when Subscribe last set cfg here; guarded by Bus.mu

	// consumers are its Subscribers in this process; guarded by Bus.mu.
	consumers map[*subscriber]struct{}

	// est estimates the events it holds unsettled: the server's count at
	// the last refresh, plus what this process published for it and minus
	// what it settled since; delta is the part of est made since the
	// current refresh began. Both are guarded by Bus.cmu.
	est, delta int64

	// inflight links its deliveries in this process that are not settled
	// yet, to release them when the bus closes.
	mu       sync.Mutex
	inflight delivery // sentinel of a circular list
}

func newSubscription(name string, cfg *subConfig) *subscription {
	s := &subscription{name: name, born: time.Now(), consumers: map[*subscriber]struct{}{}}
	s.inflight.next, s.inflight.prev = &s.inflight, &s.inflight
	s.cfg.Store(cfg)
	return s
}

func (s *subscription) track(d *delivery) {
	s.mu.Lock()
	d.prev, d.next = s.inflight.prev, &s.inflight
	d.prev.next, s.inflight.prev = d, d
	s.mu.Unlock()
}

func (s *subscription) untrack(d *delivery) {
	s.mu.Lock()
	if d.next != nil {
		d.prev.next, d.next.prev = d.next, d.prev
		d.prev, d.next = nil, nil
	}
	s.mu.Unlock()
}

// releaseInflight naks every unsettled delivery, so that the server
// delivers it again at once rather than after its ack wait.
func (s *subscription) releaseInflight(b *Bus) {
	s.mu.Lock()
	var ds []*delivery
	for d := s.inflight.next; d != &s.inflight; d = d.next {
		ds = append(ds, d)
	}
	s.inflight.next, s.inflight.prev = &s.inflight, &s.inflight
	for _, d := range ds {
		d.prev, d.next = nil, nil
	}
	s.mu.Unlock()
	for _, d := range ds {
		if d.state.CompareAndSwap(0, 1) {
			_ = b.nc.Publish(d.reply, ackRelease)
		}
	}
}

// publishList copies subs into list; b.mu must be held.
func (b *Bus) publishList() {
	l := make([]*subscription, 0, len(b.subs))
	for _, s := range b.subs {
		l = append(l, s)
	}
	slices.SortFunc(l, func(a, b *subscription) int {
		if a.name < b.name {
			return -1
		}
		return 1
	})
	b.list.Store(&l)
}

// reserve counts an event of type typ (or a redrive to only, when not nil)
// in the queue of every subscription it goes to, appending them to held,
// or returns the *bus.BackpressureError of the first one that is full and
// counts it nowhere.
func (b *Bus) reserve(typ string, only *subscription, held []*subscription) ([]*subscription, error) {
	b.maybeRefresh()
	lo := len(held)
	if only != nil {
		held = append(held, only)
	} else {
		for _, s := range *b.list.Load() {
			if event.MatchAny(s.cfg.Load().patterns, typ) {
				held = append(held, s)
			}
		}
	}
	b.cmu.Lock()
	for _, s := range held[lo:] {
		if q := s.cfg.Load().queue; s.est >= int64(q) && !s.deleted.Load() {
			b.cmu.Unlock()
			return held[:lo], &bus.BackpressureError{Subscription: s.name, Queue: q}
		}
	}
	for _, s := range held[lo:] {
		s.est++
		s.delta++
	}
	b.cmu.Unlock()
	return held, nil
}

// release undoes reserve for an event that was not enqueued.
func (b *Bus) release(held []*subscription) {
	if len(held) == 0 {
		return
	}
	b.cmu.Lock()
	for _, s := range held {
		s.est--
		s.delta--
	}
	b.cmu.Unlock()
}

// settled counts an event that s no longer holds. A partitioned
// subscription's count is left to the next refresh: an event settled in
// one partition is still held by the partitions that have not passed it.
func (b *Bus) settled(s *subscription) {
	if s.cfg.Load().partitions > 0 {
		return
	}
	b.cmu.Lock()
	s.est--
	s.delta--
	b.cmu.Unlock()
}

// maybeRefresh asks the refresher for a new count when the last one is
// older than Options.Refresh.
func (b *Bus) maybeRefresh() {
	if time.Now().UnixNano()-b.lastRefresh.Load() > int64(b.opts.Refresh) {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
}

// runRefresher refreshes the counts when Publish asks, until Close.
func (b *Bus) runRefresher() {
	defer b.wg.Done()
	for {
		select {
		case <-b.done:
			return
		case <-b.kick:
		}
		ctx, cancel := context.WithTimeout(b.ctx, apiTimeout)
		if err := b.refresh(ctx); err != nil && !b.closed.Load() {
			b.log.Warn("natsbus: list subscriptions", slog.Any("error", err))
		}
		cancel()
	}
}

// refresh lists the consumers of the events stream and takes from them
// the subscriptions' settings and queue lengths.
func (b *Bus) refresh(ctx context.Context) error {
	start := time.Now()
	b.lastRefresh.Store(start.UnixNano())
	b.cmu.Lock()
	for _, s := range *b.list.Load() {
		s.delta = 0
	}
	b.cmu.Unlock()
	lister := b.events.ListConsumers(ctx)
	infos := map[string]*jetstream.ConsumerInfo{}
	for info := range lister.Info() {
		infos[info.Name] = info
	}
	if err := lister.Err(); err != nil {
		return err
	}
	type count struct {
		s *subscription
		n int64
	}
	var counts []count
	// A partitioned subscription holds what its slowest partition has not
	// passed yet.
	partMax := map[string]int64{}
	for name, info := range infos {
		if of := info.Config.Metadata[mdPartitionOf]; of != "" && strings.HasPrefix(name, of+"~") {
			partMax[of] = max(partMax[of], int64(info.NumPending)+int64(info.NumAckPending))
		}
	}
	b.mu.Lock()
	changed := false
	for name, info := range infos {
		cfg, ok := configFromMetadata(name, info.Config.Metadata, info.Config.AckWait)
		if !ok {
			continue // not an evhost subscription
		}
		s := b.subs[name]
		if s == nil {
			s = newSubscription(name, cfg)
			b.subs[name] = s
			changed = true
		} else if old := s.cfg.Load(); start.After(s.cfgAt) &&
			(old.ackWait != cfg.ackWait || !maps.Equal(old.metadata(), cfg.metadata())) {
			cfg.key = old.key // the partitioning does not change
			s.cfg.Store(cfg)  // changed by another process
		}
		s.paused.Store(info.Paused)
		counts = append(counts, count{s, max(partMax[name], int64(info.NumPending)+int64(info.NumAckPending))})
	}
	for name, s := range b.subs {
		if _, ok := infos[name]; !ok && (!s.local || s.born.Before(start)) {
			// Deleted by another process (or never made).
			delete(b.subs, name)
			s.deleted.Store(true)
			changed = true
		}
	}
	if changed {
		b.publishList()
	}
	b.mu.Unlock()
	b.cmu.Lock()
	for _, c := range counts {
		c.s.est = c.n + c.s.delta
	}
	b.cmu.Unlock()
	return nil
}

// ensureConsumer creates or updates the consumer of sub and registers the
// subscription.
func (b *Bus) ensureConsumer(ctx context.Context, sub bus.Subscription, patterns []event.Pattern, queue int) (*subscription, error) {
	var lastErr error
	for range 3 {
		// The stream's last sequence, read before the consumer's state:
		// whatever the consumer holds then was published up to it.
		si, err := b.events.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("natsbus: subscribe %q: %w", sub.Name, err)
		}
		cons, err := b.events.Consumer(ctx, sub.Name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			cfg, err := newSubConfig(sub, patterns, nil, queue)
			if err != nil {
				return nil, fmt.Errorf("%w %q: %w", bus.ErrInvalidSubscription, sub.Name, err)
			}
			_, err = b.events.CreateConsumer(ctx, b.consumerConfig(sub.Name, 0, cfg, 0))
			if errors.Is(err, jetstream.ErrConsumerExists) {
				lastErr = err
				continue // made by another process meanwhile: update it
			}
			if err != nil {
				return nil, fmt.Errorf("natsbus: subscribe %q: %w", sub.Name, err)
			}
			// The other partitions start where the first did: after the
			// last event stored before it was made.
			if err := b.ensurePartitions(ctx, sub.Name, cfg, si.State.LastSeq+1); err != nil {
				return nil, err
			}
			return b.register(sub.Name, cfg), nil
		}
		if err != nil {
			return nil, fmt.Errorf("natsbus: subscribe %q: %w", sub.Name, err)
		}
		info := cons.CachedInfo()
		var eras []era
		if old, ok := configFromMetadata(sub.Name, info.Config.Metadata, info.Config.AckWait); ok {
			if old.partitions != sub.Partitions || old.orderBy != sub.OrderBy {
				return nil, fmt.Errorf("%w %q: %w", bus.ErrInvalidSubscription, sub.Name, bus.ErrPartitioning)
			}
			floor := info.AckFloor.Stream
			for k := 1; k < old.partitions; k++ {
				// An era is kept until every partition has passed it.
				if pc, err := b.events.Consumer(ctx, partName(sub.Name, k)); err == nil {
					floor = min(floor, pc.CachedInfo().AckFloor.Stream)
				}
			}
			for _, e := range old.eras {
				if e.Until > floor {
					eras = append(eras, e)
				}
			}
			// Not NumPending: the server counts a consumer's pending
			// messages after it stores them, so an event acknowledged
			// to its publisher a moment ago may not be counted yet
			// (seen under load: the queued event was dropped). Any event
			// past the ack floor may be one the old patterns queued.
			if !slices.Equal(old.raw, sub.Patterns) && si.State.LastSeq > floor {
				eras = append(eras, era{Until: si.State.LastSeq, Patterns: old.raw})
			}
		}
		cfg, err := newSubConfig(sub, patterns, eras, queue)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", bus.ErrInvalidSubscription, sub.Name, err)
		}
		_, err = b.events.UpdateConsumer(ctx, b.consumerConfig(sub.Name, 0, cfg, 0))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			lastErr = err
			continue // deleted meanwhile: create it
		}
		if err != nil {
			return nil, fmt.Errorf("natsbus: subscribe %q: update its consumer: %w", sub.Name, err)
		}
		// A partition missing (a process stopped while making them) starts
		// where the first partition's acknowledgements have come to.
		if err := b.ensurePartitions(ctx, sub.Name, cfg, info.AckFloor.Stream+1); err != nil {
			return nil, err
		}
		return b.register(sub.Name, cfg), nil
	}
	return nil, fmt.Errorf("natsbus: subscribe %q: its consumer keeps changing: %w", sub.Name, lastErr)
}

// consumerConfig returns the configuration of the consumer of partition
// part of subscription name (0 for an unpartitioned subscription: the
// consumer named after it), the other partitions starting at stream
// sequence start.
func (b *Bus) consumerConfig(name string, part int, c *subConfig, start uint64) jetstream.ConsumerConfig {
	subjects, _ := filters(b.eventsPrefix, c.all())
	subjects = append(subjects, b.redrivePrefix+name+".>")
	cc := jetstream.ConsumerConfig{
		Durable:       partName(name, part),
		Description:   "evhost subscription",
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.ackWait,
		MaxDeliver:    -1, // the bus counts attempts: see RATIONALE.md

		FilterSubjects: subjects,
		MaxAckPending:  min(b.opts.MaxAckPending, c.queue),
		Metadata:       c.metadata(),
	}
	if c.partitions > 0 {
		// One event of a partition in flight, in every process together:
		// the server keeps the order (see RATIONALE.md, "Why a consumer
		// per partition?").
		cc.MaxAckPending = 1
	}
	if part > 0 {
		cc.Description = "evhost subscription " + name + ", partition " + strconv.Itoa(part)
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
		cc.Metadata[mdPartitionOf] = name
	}
	return cc
}

// partName names the consumer of partition part of subscription name: the
// subscription's own name for the first, name~part for the others ('~'
// cannot be in a subscription's name).
func partName(name string, part int) string {
	if part == 0 {
		return name
	}
	return name + "~" + strconv.Itoa(part)
}

// ensurePartitions creates or updates the consumers of the partitions of
// subscription name after the first; a new one starts at stream sequence
// start.
func (b *Bus) ensurePartitions(ctx context.Context, name string, c *subConfig, start uint64) error {
	for k := 1; k < c.partitions; k++ {
		cc := b.consumerConfig(name, k, c, start)
		cons, err := b.events.Consumer(ctx, cc.Durable)
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			_, err = b.events.CreateConsumer(ctx, cc)
		case err == nil:
			// Where it starts cannot change.
			old := cons.CachedInfo().Config
			cc.DeliverPolicy, cc.OptStartSeq = old.DeliverPolicy, old.OptStartSeq
			_, err = b.events.UpdateConsumer(ctx, cc)
		}
		if err != nil {
			return fmt.Errorf("natsbus: subscribe %q: partition %d: %w", name, k, err)
		}
	}
	return nil
}

// partitions returns the number of partitions of the subscription whose
// first consumer is cons (0 when not partitioned).
func partitions(cons jetstream.Consumer) int {
	n, _ := strconv.Atoi(cons.CachedInfo().Config.Metadata[mdPartitions])
	return min(max(n, 0), bus.MaxPartitions)
}

// register records that this process subscribed to name with cfg.
func (b *Bus) register(name string, cfg *subConfig) *subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.subs[name]
	if s == nil {
		s = newSubscription(name, cfg)
		b.subs[name] = s
		b.publishList()
	}
	s.cfg.Store(cfg)
	s.local = true
	s.cfgAt = time.Now()
	return s
}

// Pending returns, for every subscription this process knows, its estimate
// of the events the subscription holds unsettled: waiting, in flight and
// waiting for redelivery (the server's pending plus ack-pending counts at
// the last refresh, adjusted by what this process published and settled
// since). It does not wait for the server, so it is cheap enough for every
// metrics scrape; when the last refresh is older than Options.Refresh, it
// asks for one, which the next call sees. Otherwise an idle process would
// keep an estimate that no publish or fetch of its own refreshes: one that
// missed another process's events, or one read while the server had not
// yet processed an acknowledgement this process had sent.
func (b *Bus) Pending() map[string]int64 {
	m, _ := b.states()
	return m
}

// PauseStates reports which subscriptions are paused, as of the last
// refresh (or a Pause or Resume in this process since), without asking
// the server: for metrics scrapes and the status page. Paused asks.
func (b *Bus) PauseStates() map[string]bool {
	_, p := b.states()
	return p
}

func (b *Bus) states() (map[string]int64, map[string]bool) {
	b.maybeRefresh()
	l := *b.list.Load()
	m := make(map[string]int64, len(l))
	p := make(map[string]bool, len(l))
	b.cmu.Lock()
	for _, s := range l {
		m[s.name] = max(0, s.est)
		p[s.name] = s.paused.Load()
	}
	b.cmu.Unlock()
	return m, p
}
