package sources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/event"
)

// Bounds of what a publisher can make a NATS source hold.
const (
	// corePendingMsgs and corePendingBytes bound the messages of a core
	// subscription waiting for the reader; past them the server's
	// messages are dropped (a slow consumer) and counted.
	corePendingMsgs  = 1024
	corePendingBytes = 64 << 20
	// streamMaxAckPending bounds the unacknowledged messages of a stream
	// source's consumer; streamBuffer the messages its client buffers.
	streamMaxAckPending = 256
	streamBuffer        = 64
	// maxExtensions bounds the headers of a message made extensions.
	maxExtensions = 32
	// retryMin and retryMax bound the wait before a reader connects again
	// after a failure (a server down, a stream missing).
	retryMin, retryMax = time.Second, 30 * time.Second
	// publishTimeout bounds the publishing of one event.
	publishTimeout = 10 * time.Second
	// nakDelay is how long a stream message the bus refused for now waits
	// before it is delivered again.
	nakDelay = time.Second
)

// ConsumerName is the durable consumer of the stream source name.
func ConsumerName(name string) string { return "evhost-source-" + name }

// reader reads one NATS source until stopped.
type reader struct {
	spec NATSSpec
	st   *stats
	set  *Set
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// busy is read-locked by each message being handled; stop takes it
	// to wait for them once stopping is set.
	busy     sync.RWMutex
	stopping atomic.Bool
	dropped  atomic.Uint64 // core: the subscription's dropped count seen so far
}

func (s *Set) startReader(sp NATSSpec, st *stats) *reader {
	r := &reader{spec: sp, st: st, set: s, done: make(chan struct{}),
		log: s.log.With(slog.String("source", sp.Name))}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.run()
	return r
}

// stop stops reading: the messages being handled are finished and
// settled first, then the connection is closed.
func (r *reader) stop() {
	r.stopping.Store(true)
	r.busy.Lock()
	r.busy.Unlock() //nolint:staticcheck // waits for the handlers that began before stopping
	r.cancel()
	<-r.done
	r.st.running.Store(false)
}

// run connects and reads, again after each failure, until stopped.
func (r *reader) run() {
	defer close(r.done)
	wait := retryMin
	for {
		err := r.once()
		r.st.running.Store(false)
		if r.ctx.Err() != nil {
			return
		}
		r.st.fail(err)
		r.log.Warn("NATS source failed; retrying", slog.Any("error", err), slog.Duration("in", wait))
		select {
		case <-r.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, retryMax)
	}
}

// once connects, subscribes and reads until stopped (nil) or a failure.
func (r *reader) once() error {
	ep := r.spec.Server
	if ep == nil {
		if ep = r.set.opts.Broker; ep == nil {
			return errors.New("the daemon's broker is not NATS (kind memory): set url")
		}
	}
	nc, err := dial(ep, r)
	if err != nil {
		return err
	}
	defer nc.Close()
	if r.spec.Stream == "" {
		sub, err := nc.Subscribe(r.spec.Subject, func(m *nats.Msg) { r.handle(m.Subject, m.Header, m.Data, nil) })
		if err != nil {
			return fmt.Errorf("subscribe to %s: %w", r.spec.Subject, err)
		}
		if err := sub.SetPendingLimits(corePendingMsgs, corePendingBytes); err != nil {
			return err
		}
		if err := nc.Flush(); err != nil {
			return fmt.Errorf("subscribe to %s: %w", r.spec.Subject, err)
		}
		r.st.running.Store(true)
		r.log.Info("NATS source reading (core NATS: at most once)", slog.String("subject", r.spec.Subject))
		<-r.ctx.Done()
		sub.Unsubscribe()
		return nil
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cfg := jetstream.ConsumerConfig{
		Durable: ConsumerName(r.spec.Name), FilterSubject: r.spec.Subject, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: r.spec.AckWait, MaxAckPending: streamMaxAckPending, DeliverPolicy: jetstream.DeliverNewPolicy,
		Description: "evhost source " + r.spec.Name,
	}
	if r.spec.DeliverAll {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	ctx, cancel := context.WithTimeout(r.ctx, publishTimeout)
	cons, err := js.CreateOrUpdateConsumer(ctx, r.spec.Stream, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("consumer %s on stream %s: %w", cfg.Durable, r.spec.Stream, err)
	}
	failed := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		meta, err := m.Metadata()
		if err != nil {
			meta = nil
		}
		r.handle(m.Subject(), m.Headers(), m.Data(), &streamMsg{m, meta})
	}, jetstream.PullMaxMessages(streamBuffer), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			select {
			case failed <- err:
			default:
			}
			return
		}
		r.st.fail(err)
		r.log.Warn("NATS source: consuming", slog.Any("error", err))
	}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", cfg.Durable, err)
	}
	defer cc.Stop()
	r.st.running.Store(true)
	r.log.Info("NATS source reading (stream: at least once)", slog.String("stream", r.spec.Stream), slog.String("subject", r.spec.Subject))
	select {
	case <-r.ctx.Done():
		return nil
	case err := <-failed:
		return fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
}

// warn logs a per-message warning, at most one a second.
func (r *reader) warn(msg string, attrs ...any) {
	if r.st.warnable() {
		r.log.Warn(msg, attrs...)
	}
}

// streamMsg is a stream message and its metadata.
type streamMsg struct {
	jetstream.Msg
	meta *jetstream.MsgMetadata
}

// handle makes an event of a message and publishes it. A stream message
// (sm not nil) is settled: acknowledged when published (or a duplicate),
// terminated when no event can be made of it (counted, logged, never
// delivered again), delivered again later when the bus refused it for now.
func (r *reader) handle(subject string, hdr nats.Header, data []byte, sm *streamMsg) {
	r.busy.RLock()
	defer r.busy.RUnlock()
	if r.stopping.Load() {
		if sm != nil {
			sm.Nak() // delivered again at once, to the next reader
		}
		return // a core message is lost: at most once
	}
	var meta *jetstream.MsgMetadata
	if sm != nil {
		meta = sm.meta
	}
	settle := func(f func(jetstream.Msg) error) {
		if sm != nil {
			if err := f(sm.Msg); err != nil {
				r.log.Debug("NATS source: settling a message", slog.Any("error", err))
			}
		}
	}
	ev, reason, err := r.event(subject, hdr, data, meta)
	if err != nil {
		r.st.refuse(reason, err)
		r.warn("NATS source: message refused", slog.String("subject", subject), slog.String("reason", reason), slog.Any("error", err))
		settle(jetstream.Msg.Term)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	ack, err := r.set.opts.Publisher(api.SourceNATS).Publish(ctx, ev)
	switch {
	case err == nil:
		r.st.produce(ack.Duplicate)
		settle(jetstream.Msg.Ack)
	case errors.Is(err, bus.ErrInvalidEvent):
		r.st.refuse(ReasonInvalid, err)
		r.warn("NATS source: the bus refused the event", slog.String("event_id", ev.ID), slog.Any("error", err))
		settle(jetstream.Msg.Term)
	default:
		r.st.refuse(ReasonBus, err)
		r.warn("NATS source: publishing failed; a stream message is delivered again", slog.String("event_id", ev.ID), slog.Any("error", err))
		settle(func(m jetstream.Msg) error { return m.NakWithDelay(nakDelay) })
	}
}

// event makes the CloudEvent of a message, or says why it cannot (the
// reason and the error).
func (r *reader) event(subject string, hdr nats.Header, data []byte, meta *jetstream.MsgMetadata) (*event.Event, string, error) {
	sp := &r.spec
	size := len(data)
	for k, vs := range hdr {
		for _, v := range vs {
			size += len(k) + len(v) + 4
		}
	}
	if int64(size) > sp.MaxMessage {
		return nil, ReasonTooLarge, fmt.Errorf("a message of %d bytes (payload and headers) is over max_message %d", size, sp.MaxMessage)
	}
	ev := &event.Event{Source: sp.Source, SpecVersion: event.SpecVersion, Type: sp.TypePrefix + sp.Type,
		DataContentType: sp.ContentType, Time: time.Now().UTC()}
	if sp.TypeFromSubject {
		ev.Type = sp.TypePrefix + subject
	}
	if err := event.ValidType(ev.Type); err != nil {
		return nil, ReasonInvalid, fmt.Errorf("event type %q: %w", ev.Type, err)
	}
	switch id := hdr.Get(nats.MsgIdHdr); {
	case id != "":
		if len(id) > maxIDLen || !utf8.ValidString(id) {
			return nil, ReasonInvalid, fmt.Errorf("%s is longer than %d bytes or not UTF-8", nats.MsgIdHdr, maxIDLen)
		}
		ev.ID = id
	case meta != nil:
		// The stream's sequence: the same on every redelivery.
		ev.ID = meta.Stream + "-" + strconv.FormatUint(meta.Sequence.Stream, 10)
	default:
		ev.ID = event.NewID()
	}
	if meta != nil && !meta.Timestamp.IsZero() {
		ev.Time = meta.Timestamp.UTC()
	}
	if ev.DataContentType == "" {
		ev.DataContentType = hdr.Get("Content-Type")
	}
	n := 0
	for k, vs := range hdr {
		name := event.ExtensionNameOf(k)
		if len(vs) == 0 || strings.HasPrefix(strings.ToLower(k), "nats-") || strings.EqualFold(k, "Content-Type") ||
			event.ValidExtensionName(name) != nil || event.OwnedExtension(name) {
			continue
		}
		if v := vs[0]; len(v) <= maxExtValue && utf8.ValidString(v) && n < maxExtensions {
			if _, dup := ev.Ext(name); !dup {
				ev.Extensions = append(ev.Extensions, event.Attr{Name: name, Value: v})
				n++
			}
		}
	}
	ev.Data = append([]byte(nil), data...)
	if err := ev.Validate(); err != nil {
		return nil, ReasonInvalid, err
	}
	return ev, "", nil
}

// inProcess adapts the embedded server's connection maker to nats.go.
type inProcess func() (net.Conn, error)

func (f inProcess) InProcessConn() (net.Conn, error) { return f() }

// dial connects to ep for r.
func dial(ep *natsbus.Endpoint, r *reader) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(ConsumerName(r.spec.Name)),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			r.st.running.Store(false)
			if err != nil && !r.stopping.Load() {
				r.st.fail(err)
				r.log.Warn("NATS source: disconnected", slog.Any("error", err))
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { r.st.running.Store(true) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) && sub != nil {
				if d, derr := sub.Dropped(); derr == nil {
					if prev := r.dropped.Swap(uint64(d)); uint64(d) > prev {
						r.st.refused[slices.Index(reasons, ReasonDropped)].Add(uint64(d) - prev)
					}
				}
			}
			r.st.fail(err)
			r.log.Warn("NATS source: asynchronous error", slog.Any("error", err))
		}),
	}
	url := strings.Join(ep.URLs, ",")
	if ep.InProcess != nil {
		url = ""
		opts = append(opts, nats.InProcessServer(inProcess(ep.InProcess)))
	}
	switch {
	case ep.CredsFile != "":
		opts = append(opts, nats.UserCredentials(ep.CredsFile))
	case ep.User != "":
		opts = append(opts, nats.UserInfo(ep.User, ep.Password))
	case ep.Token != "":
		opts = append(opts, nats.Token(ep.Token))
	case ep.NKeySeed != "":
		kp, err := nkeys.FromSeed([]byte(ep.NKeySeed))
		if err != nil {
			return nil, fmt.Errorf("nkey seed: %w", err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("nkey seed: %w", err)
		}
		opts = append(opts, nats.Nkey(pub, kp.Sign))
	}
	if ep.TLS.CAFile != "" {
		opts = append(opts, nats.RootCAs(ep.TLS.CAFile))
	}
	if ep.TLS.CertFile != "" {
		opts = append(opts, nats.ClientCert(ep.TLS.CertFile, ep.TLS.KeyFile))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		where := "the daemon's broker"
		if ep.InProcess == nil {
			where = api.RedactURL(url)
		}
		return nil, fmt.Errorf("connect to %s: %w", where, err)
	}
	return nc, nil
}
