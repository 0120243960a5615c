package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/bus"
)

// Bounds of a backlog report.
const (
	// backlogFresh is how long a report is served before the next request
	// makes a new one.
	backlogFresh = 2 * time.Second
	// backlogLookups caps the messages one report reads: past it, the
	// subscriptions left get no oldest event.
	backlogLookups = 256
	// backlogSubjects caps the filter subjects read for one subscription:
	// one with more is given the first event after its ack floor whatever
	// its type, an upper bound of its oldest event's age.
	backlogSubjects = 8
)

var _ bus.Backlogs = (*Bus)(nil)

// Backlog implements bus.Backlogs: the events stream's retention and
// state, and for each subscription that holds events unsettled, its
// oldest one: the first message past the consumer's ack floor on one of
// its filter subjects (every message before the floor is settled, and the
// first one after it that the consumer selects is not). It asks the
// server for the stream's info, the consumers' infos (a page per 256) and
// one message per filter subject of each such subscription, at most
// backlogLookups in all; a report is reused for backlogFresh.
func (b *Bus) Backlog(ctx context.Context) (*bus.Backlog, error) {
	b.backlogMu.Lock()
	defer b.backlogMu.Unlock()
	if r := b.backlog; r != nil && time.Since(r.Time) < backlogFresh {
		return r, nil
	}
	if b.closed.Load() {
		return nil, errClosed
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	si, err := b.events.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("natsbus: backlog: the stream: %w", err)
	}
	c, st := si.Config, si.State
	r := &bus.Backlog{Time: time.Now(), Oldest: map[string]bus.OldestPending{}, Journal: bus.Retention{
		MaxAge: c.MaxAge, MaxBytes: max(0, c.MaxBytes), MaxMsgs: max(0, c.MaxMsgs), DiscardOld: c.Discard == jetstream.DiscardOld,
		Bytes: st.Bytes, Msgs: st.Msgs, FirstSeq: st.FirstSeq, LastSeq: st.LastSeq,
	}}
	lister := b.events.ListConsumers(ctx)
	budget := backlogLookups
	for info := range lister.Info() {
		if _, ok := configFromMetadata(info.Name, info.Config.Metadata, info.Config.AckWait); !ok || info.NumPending+uint64(info.NumAckPending) == 0 {
			continue
		}
		subjects := info.Config.FilterSubjects
		if info.Config.FilterSubject != "" {
			subjects = append(subjects, info.Config.FilterSubject)
		}
		if len(subjects) > backlogSubjects || len(subjects) == 0 {
			subjects = []string{""}
		}
		if budget < len(subjects) {
			continue
		}
		budget -= len(subjects)
		from := info.AckFloor.Stream + 1
		var oldest *jetstream.RawStreamMsg
		for _, subj := range subjects {
			var opts []jetstream.GetMsgOpt
			if subj != "" {
				opts = append(opts, jetstream.WithGetMsgSubject(subj))
			}
			m, err := b.events.GetMsg(ctx, max(from, st.FirstSeq), opts...)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("natsbus: backlog of %q: %w", info.Name, err)
			}
			if oldest == nil || m.Sequence < oldest.Sequence {
				oldest = m
			}
		}
		if oldest != nil {
			r.Oldest[info.Name] = bus.OldestPending{Seq: oldest.Sequence, Time: oldest.Time}
		}
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("natsbus: backlog: the consumers: %w", err)
	}
	b.backlog = r
	return r, nil
}
