package natsbus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/evhost/evhost/host/bus"
)

// A partitioned subscription (bus.Subscription.Partitions) has one
// durable consumer per partition, each with MaxAckPending 1: the consumer
// named after the subscription is partition 0, and name~k partition k.
// Each consumer's filter selects every event of the subscription; its
// subscribers hand out the events of their partition and acknowledge the
// others at once. The server delivers a partition's next event only once
// the one before is settled (acknowledged, dead-lettered, or given back
// for redelivery, which then comes first), whichever process pulls it:
// that is the order per key, with no coordination between processes.

// partitioned is the bus.Subscriber of a partitioned subscription: a
// subscriber per partition, each fetched by a pump goroutine that hands
// its one delivery at a time to whichever Next or Fetch call takes it.
type partitioned struct {
	name   string
	subs   []*subscriber
	out    chan bus.Delivery
	ctx    context.Context // ends the pumps' fetches
	cancel context.CancelFunc
	done   chan struct{} // closed by Close
	once   sync.Once

	dead     chan struct{} // closed when a pump ends for good
	deadOnce sync.Once
	err      error // why, set before dead is closed
}

var _ bus.Subscriber = (*partitioned)(nil)

// subscribePartitions attaches a subscriber to each of the n partitions
// of s and starts their pumps.
func (b *Bus) subscribePartitions(s *subscription, n int) (bus.Subscriber, error) {
	p := &partitioned{name: s.name, out: make(chan bus.Delivery), done: make(chan struct{}), dead: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(b.ctx)
	for k := range n {
		c, err := newSubscriber(b, s, k)
		if err == nil {
			err = b.attach(s, c)
		}
		if err != nil {
			p.Close()
			return nil, err
		}
		p.subs = append(p.subs, c)
	}
	for _, c := range p.subs {
		go p.pump(c)
	}
	return p, nil
}

// pump fetches the deliveries of one partition, one at a time, and hands
// each to a caller; one the callers never take is given back on Close.
func (p *partitioned) pump(c *subscriber) {
	var buf [1]bus.Delivery
	for {
		if _, err := c.Fetch(p.ctx, buf[:]); err != nil {
			if p.ctx.Err() == nil {
				p.deadOnce.Do(func() { p.err = err; close(p.dead) })
			}
			return
		}
		select {
		case p.out <- buf[0]:
		case <-p.done:
			if d := c.last; d != nil && d.state.CompareAndSwap(0, 1) {
				if d.watch != nil {
					d.watch.Stop()
				}
				d.sub.untrack(d)
				_ = c.send(d.reply, ackRelease)
			}
			return
		}
	}
}

// Next implements bus.Subscriber.
func (p *partitioned) Next(ctx context.Context) (bus.Delivery, error) {
	var buf [1]bus.Delivery
	if _, err := p.Fetch(ctx, buf[:]); err != nil {
		return bus.Delivery{}, err
	}
	return buf[0], nil
}

// Fetch implements bus.Subscriber: it waits for a delivery of any
// partition, then takes those of the others that are ready.
func (p *partitioned) Fetch(ctx context.Context, buf []bus.Delivery) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	select {
	case buf[0] = <-p.out:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-p.done:
		return 0, fmt.Errorf("natsbus: consumer of %q closed: %w", p.name, bus.ErrClosed)
	case <-p.dead:
		if errors.Is(p.err, bus.ErrClosed) {
			return 0, p.err
		}
		return 0, fmt.Errorf("natsbus: subscription %q: a partition's consumer failed: %w", p.name, p.err)
	}
	n := 1
	for n < len(buf) {
		select {
		case buf[n] = <-p.out:
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// Close implements bus.Subscriber.
func (p *partitioned) Close() error {
	p.once.Do(func() {
		close(p.done)
		p.cancel()
		for _, c := range p.subs {
			c.Close()
		}
	})
	return nil
}
