package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/bus"
)

// pauseFor is how long Pause pauses a consumer: JetStream pauses until a
// time, and a pause lasts until Resume.
const pauseFor = 100 * 365 * 24 * time.Hour

// Pause implements bus.Bus with the JetStream consumer pause (nats-server
// 2.11 and later): the server stops delivering to every consumer of the
// subscription, in every process, and the pause is kept with the
// consumer's state (a daemon that restarts finds it paused).
func (b *Bus) Pause(ctx context.Context, name string) error {
	return b.pause(ctx, name, true)
}

// Resume implements bus.Bus.
func (b *Bus) Resume(ctx context.Context, name string) error {
	return b.pause(ctx, name, false)
}

func (b *Bus) pause(ctx context.Context, name string, paused bool) error {
	if err := b.usable(ctx, name); err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	first, err := b.events.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("natsbus: subscription %q: %w", name, bus.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("natsbus: pause or resume subscription %q: %w", name, err)
	}
	// Every partition's consumer, the first (whose state Paused reads)
	// last.
	for k := max(partitions(first), 1) - 1; k >= 0; k-- {
		if err := b.pauseConsumer(ctx, name, partName(name, k), paused); err != nil {
			return err
		}
	}
	b.mu.Lock()
	if s := b.subs[name]; s != nil {
		s.paused.Store(paused)
	}
	b.mu.Unlock()
	return nil
}

// pauseConsumer pauses or resumes the consumer cons of subscription name.
func (b *Bus) pauseConsumer(ctx context.Context, name, cons string, paused bool) error {
	var err error
	if paused {
		_, err = b.js.PauseConsumer(ctx, b.eventsStream, cons, time.Now().Add(pauseFor))
	} else {
		_, err = b.js.ResumeConsumer(ctx, b.eventsStream, cons)
	}
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("natsbus: subscription %q: consumer %s: %w", name, cons, bus.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("natsbus: pause or resume subscription %q: %w", name, err)
	}
	// On a cluster the API answers once the change is agreed, which may be
	// before the consumer's leader applies it: wait until the leader says
	// so, so that no delivery is made after Pause returns.
	for {
		c, err := b.events.Consumer(ctx, cons)
		if err != nil {
			return fmt.Errorf("natsbus: pause or resume subscription %q: checking it: %w", name, err)
		}
		if c.CachedInfo().Paused == paused {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natsbus: pause or resume subscription %q: the consumer did not apply it: %w", name, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Paused implements bus.Bus: it asks the server.
func (b *Bus) Paused(ctx context.Context, name string) (bool, error) {
	if err := b.usable(ctx, name); err != nil {
		return false, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	c, err := b.events.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return false, fmt.Errorf("natsbus: subscription %q: %w", name, bus.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("natsbus: subscription %q: %w", name, err)
	}
	return c.CachedInfo().Paused, nil
}

// usable checks ctx, that the bus is open and that name can name a
// subscription (ErrNotFound otherwise).
func (b *Bus) usable(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed.Load() {
		return errClosed
	}
	if !bus.ValidName(name) {
		return fmt.Errorf("natsbus: subscription %q: %w", name, bus.ErrNotFound)
	}
	return nil
}
