package natsbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/bus"
)

// Members (bus.Members) counts the processes that consume a subscription
// with a heartbeat: every memberBeat, each process that joined a
// subscription stores an empty message on
// <prefix>.members.<subscription>.<process id> in the stream
// <prefix>_members (in memory, one message per subject, kept memberTTL),
// and counts the subjects of the subscription there. A process that stops
// is forgotten within memberTTL, one that leaves at once (its subject is
// purged). See RATIONALE.md, "Why is a rate limit shared through a
// heartbeat?".
const (
	memberBeat = time.Second
	memberTTL  = 3 * time.Second
)

// members is the heartbeat's state.
type members struct {
	id     string // this process
	mu     sync.Mutex
	joined map[string]int // subscription -> joins here
	counts map[string]int // subscription -> processes seen at the last beat
	once   sync.Once
	stream jetstream.Stream
}

var _ bus.Members = (*Bus)(nil)

// Join implements bus.Members.
func (b *Bus) Join(name string) (count func() int, leave func()) {
	m := &b.members
	m.once.Do(func() {
		var id [8]byte
		_, _ = rand.Read(id[:])
		m.id = hex.EncodeToString(id[:])
		m.joined, m.counts = map[string]int{}, map[string]int{}
		b.wg.Add(1)
		go b.beat()
	})
	m.mu.Lock()
	m.joined[name]++
	m.mu.Unlock()
	count = func() int {
		m.mu.Lock()
		defer m.mu.Unlock()
		return max(1, m.counts[name])
	}
	leave = func() {
		m.mu.Lock()
		if m.joined[name]--; m.joined[name] <= 0 {
			delete(m.joined, name)
			delete(m.counts, name)
		}
		left, st := m.joined[name] == 0, m.stream
		m.mu.Unlock()
		if left && st != nil && !b.closed.Load() {
			ctx, cancel := context.WithTimeout(b.ctx, apiTimeout)
			_ = st.Purge(ctx, jetstream.WithPurgeSubject(b.memberSubject(name)))
			cancel()
		}
	}
	return count, leave
}

func (b *Bus) memberSubject(name string) string {
	return b.opts.Prefix + ".members." + name + "." + b.members.id
}

// beat runs the heartbeat until Close.
func (b *Bus) beat() {
	defer b.wg.Done()
	t := time.NewTicker(memberBeat)
	defer t.Stop()
	for {
		if err := b.beatOnce(); err != nil && !b.closed.Load() {
			b.log.Warn("natsbus: subscription heartbeat", slog.Any("error", err))
		}
		select {
		case <-b.done:
			return // the stream forgets this process within memberTTL
		case <-t.C:
		}
	}
}

// beatOnce announces this process for every subscription it joined, and
// counts the processes of each.
func (b *Bus) beatOnce() error {
	m := &b.members
	ctx, cancel := context.WithTimeout(b.ctx, memberBeat)
	defer cancel()
	m.mu.Lock()
	st := m.stream
	names := make([]string, 0, len(m.joined))
	for n := range m.joined {
		names = append(names, n)
	}
	m.mu.Unlock()
	if st == nil {
		var err error
		st, err = b.createStream(ctx, jetstream.StreamConfig{
			Name:              b.opts.Prefix + "_members",
			Description:       "evhost: which processes consume which subscription (heartbeats)",
			Subjects:          []string{b.opts.Prefix + ".members.>"},
			Retention:         jetstream.LimitsPolicy,
			Discard:           jetstream.DiscardOld,
			MaxAge:            memberTTL,
			MaxMsgsPerSubject: 1,
			Storage:           jetstream.MemoryStorage,
			Replicas:          b.replicas,
			Duplicates:        memberBeat / 2,
		})
		if err != nil {
			return err
		}
		m.mu.Lock()
		m.stream = st
		m.mu.Unlock()
	}
	counts := make(map[string]int, len(names))
	for _, n := range names {
		if _, err := b.js.Publish(ctx, b.memberSubject(n), nil); err != nil {
			return err
		}
	}
	for _, n := range names {
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(b.opts.Prefix+".members."+n+".*"))
		if err != nil {
			return err
		}
		counts[n] = len(info.State.Subjects)
	}
	m.mu.Lock()
	for n, c := range counts {
		if _, ok := m.joined[n]; ok {
			m.counts[n] = c
		}
	}
	m.mu.Unlock()
	return nil
}
