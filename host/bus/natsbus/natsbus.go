package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// apiTimeout bounds a call to the server when the caller's context has no
// deadline, like nats.go's default API timeout.
const apiTimeout = 10 * time.Second

// batchWindow is how many PublishBatch events may wait for their
// acknowledgement at once (see RATIONALE.md, "Why a window of 256?").
const batchWindow = 256

// Bus is the durable bus on NATS JetStream. Create it with Open and stop it
// with Close. It is safe for concurrent use.
type Bus struct {
	opts Options
	log  *slog.Logger
	srv  *server.Server // the embedded server, or nil
	// internal is the token of this process's connections to an embedded
	// server whose listener requires credentials, or "".
	internal string
	nc       *nats.Conn          // publishing, settling after a consumer closed, the API
	js       jetstream.JetStream // the API: streams, consumers, messages, KV
	acks     *acker

	events, dlq             jetstream.Stream
	eventsStream, dlqStream string
	replicas                int    // of the streams
	eventsPrefix            string // <prefix>.events.
	redrivePrefix           string // <prefix>.redrive.
	dlqPrefix               string // <prefix>.dlq.
	delayedPrefix           string // <prefix>.delayed.
	delayed                 delayedCount
	schedules               bool   // the server schedules messages (delayed events)
	nextPrefix              string // $JS.API.CONSUMER.MSG.NEXT.<events stream>.

	closed    atomic.Bool
	ctx       context.Context // canceled when Close begins
	cancel    context.CancelFunc
	done      chan struct{} // closed when Close begins
	stopped   chan struct{} // closed when Close has finished
	closeOnce sync.Once
	wg        sync.WaitGroup // the refresher

	// mu guards subs and each subscription's consumers; list is the
	// publishers' lock-free copy of subs.
	mu   sync.Mutex
	subs map[string]*subscription
	list atomic.Pointer[[]*subscription]

	// cmu guards the queue counts of every subscription (est, delta).
	cmu         sync.Mutex
	lastRefresh atomic.Int64 // unix nanoseconds
	kick        chan struct{}

	members members // the processes consuming each subscription (Join)
	// backlogMu serializes the backlog reports; backlog is the last one.
	backlogMu sync.Mutex
	backlog   *bus.Backlog
}

var _ bus.Bus = (*Bus)(nil)

// errClosed is returned by every operation on a closed bus.
var errClosed = fmt.Errorf("natsbus: %w", bus.ErrClosed)

// Open starts the embedded server or connects to the cluster, creates or
// updates the bus's streams, and returns the running bus. ctx bounds the
// start; when it has no deadline, a minute does.
func Open(ctx context.Context, opts Options) (*Bus, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	p := opts.Prefix
	b := &Bus{
		opts:          opts,
		log:           opts.Logger,
		eventsStream:  p + "_events",
		dlqStream:     p + "_dlq",
		eventsPrefix:  p + ".events.",
		redrivePrefix: p + ".redrive.",
		dlqPrefix:     p + ".dlq.",
		delayedPrefix: p + ".delayed.",
		done:          make(chan struct{}),
		stopped:       make(chan struct{}),
		subs:          make(map[string]*subscription),
		kick:          make(chan struct{}, 1),
	}
	b.nextPrefix = "$JS.API.CONSUMER.MSG.NEXT." + b.eventsStream + "."
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.list.Store(&[]*subscription{})
	if opts.Embedded != nil {
		srv, internal, err := startServer(ctx, opts.Embedded, b.log)
		if err != nil {
			return nil, err
		}
		b.srv, b.internal = srv, internal
	}
	fail := func(err error) (*Bus, error) {
		b.cancel()
		if b.nc != nil {
			b.nc.Close()
		}
		b.stopServer()
		return nil, err
	}
	nc, err := b.connect("", nil)
	if err != nil {
		return fail(err)
	}
	b.nc = nc
	if b.js, err = jetstream.New(nc); err != nil {
		return fail(fmt.Errorf("natsbus: %w", err))
	}
	if b.acks, err = newAcker(nc); err != nil {
		return fail(err)
	}
	if err := b.setupStreams(ctx); err != nil {
		return fail(err)
	}
	if err := b.refresh(ctx); err != nil {
		return fail(fmt.Errorf("natsbus: list subscriptions: %w", err))
	}
	b.wg.Add(1)
	go b.runRefresher()
	return b, nil
}

// connect opens a connection to the server: in-process to the embedded
// one, or to the cluster's URLs. onReconnect, if not nil, runs after each
// reconnection.
func (b *Bus) connect(role string, onReconnect func()) (*nats.Conn, error) {
	o := b.opts
	opts := []nats.Option{
		nats.Name(o.ClientName + role),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil && !b.closed.Load() {
				b.log.Warn("natsbus: disconnected", slog.String("conn", role), slog.Any("error", err))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("natsbus: reconnected", slog.String("conn", role), slog.String("url", nc.ConnectedUrlRedacted()))
			if onReconnect != nil {
				onReconnect()
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			b.log.Warn("natsbus: asynchronous error", slog.String("conn", role), slog.Any("error", err))
		}),
	}
	url := strings.Join(o.URLs, ",")
	if b.srv != nil {
		url = ""
		opts = append(opts, nats.InProcessServer(b.srv))
		if b.internal != "" {
			opts = append(opts, nats.Token(b.internal))
		}
	}
	switch {
	case o.CredsFile != "":
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	case o.User != "":
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	case o.Token != "":
		opts = append(opts, nats.Token(o.Token))
	case o.NKeySeed != "":
		opt, err := nkeyOption(o.NKeySeed)
		if err != nil {
			return nil, err
		}
		opts = append(opts, opt)
	}
	if o.TLS.CAFile != "" {
		opts = append(opts, nats.RootCAs(o.TLS.CAFile))
	}
	if o.TLS.CertFile != "" {
		opts = append(opts, nats.ClientCert(o.TLS.CertFile, o.TLS.KeyFile))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		where := "the embedded server"
		if b.srv == nil {
			where = url
		}
		return nil, fmt.Errorf("natsbus: connect to %s: %w", where, err)
	}
	return nc, nil
}

// setupStreams creates the bus's streams, or updates them to the options.
func (b *Bus) setupStreams(ctx context.Context) error {
	o := b.opts
	replicas := o.Replicas
	if replicas == 0 {
		replicas = 1
		if b.srv == nil && b.nc.ConnectedClusterName() != "" {
			replicas = 3
		}
	}
	b.replicas = replicas
	maxBytes := o.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	var err error
	b.events, err = b.createStream(ctx, jetstream.StreamConfig{
		Name:        b.eventsStream,
		Description: "evhost events: the journal and audit log",
		Subjects:    []string{b.eventsPrefix + ">", b.redrivePrefix + ">", b.delayedPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.MaxAge,
		MaxBytes:    maxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  o.DedupWindow,
		// Delayed events are message schedules (delayed.go); the server
		// requires roll-ups with them.
		AllowMsgSchedules: true,
		AllowRollup:       true,
	})
	if err != nil {
		return streamErr(b.eventsStream, replicas, err)
	}
	if b.schedules = b.events.CachedInfo().Config.AllowMsgSchedules; !b.schedules {
		b.log.Warn("natsbus: the NATS server does not schedule messages (nats-server 2.12 or later does): delayed events are refused",
			slog.String("stream", b.eventsStream))
	}
	// The dead letters' own dedup window makes writing one twice (a crash
	// between writing it and terminating the message) harmless.
	dlqDedup := 10 * time.Minute
	if o.DeadLetterMaxAge > 0 {
		dlqDedup = min(dlqDedup, o.DeadLetterMaxAge)
	}
	b.dlq, err = b.createStream(ctx, jetstream.StreamConfig{
		Name:        b.dlqStream,
		Description: "evhost dead letters",
		Subjects:    []string{b.dlqPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      o.DeadLetterMaxAge,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  dlqDedup,
	})
	if err != nil {
		return streamErr(b.dlqStream, replicas, err)
	}
	return nil
}

// streamAttempt bounds one attempt of createStream.
const streamAttempt = 5 * time.Second

// createStream creates or updates a stream, trying again while ctx lasts
// when an attempt times out: two processes creating the same replicated
// stream at once on a fresh cluster can both wait forever for an answer
// (seen with nats-server 2.15.2), and the next attempt finds the stream.
func (b *Bus) createStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	var st jetstream.Stream
	err := b.retryTimeouts(ctx, streamAttempt, "a stream", slog.String("stream", cfg.Name), func(actx context.Context) error {
		// A stream that is already as wanted is left alone: an update
		// that races another process's consumer creation trips a data
		// race inside nats-server 2.15.2 (fileStore.UpdateConfig against
		// ConsumerStore), and a daemon joining others needs none.
		var err error
		if st, err = b.js.Stream(actx, cfg.Name); err == nil && sameStream(st.CachedInfo().Config, cfg) {
			return nil
		}
		st, err = b.js.CreateOrUpdateStream(actx, cfg)
		return err
	})
	return st, err
}

// createKV creates or updates a KV bucket as createStream creates a
// stream: an attempt that times out is tried again while ctx lasts, at most
// kvSetup when ctx has no deadline. Two daemons creating the same
// replicated bucket at once on a fresh cluster can both wait for an answer
// that never comes, and one attempt bounded by apiTimeout failed a
// daemon's start (TestClusterSurvivesADaemonAndANode, with the webhooks'
// bucket).
func (b *Bus) createKV(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, kvSetup)
		defer cancel()
	}
	var kv jetstream.KeyValue
	err := b.retryTimeouts(ctx, streamAttempt, "a kv bucket", slog.String("bucket", cfg.Bucket), func(actx context.Context) error {
		var err error
		kv, err = b.js.CreateOrUpdateKeyValue(actx, cfg)
		return err
	})
	return kv, err
}

// kvSetup bounds createKV when its caller sets no deadline: several
// attempts of streamAttempt.
const kvSetup = 6 * streamAttempt

// retryTimeouts calls attempt with a context bounded by per and, while an
// attempt times out (its context expires, or an answer never comes) and
// ctx lasts, calls it again after a growing pause with jitter, logging that
// creating what (with attr) timed out. It returns the last attempt's
// error, or errClosed when the bus closes during a pause.
func (b *Bus) retryTimeouts(ctx context.Context, per time.Duration, what string, attr slog.Attr, attempt func(context.Context) error) error {
	for pause := 100 * time.Millisecond; ; pause = min(2*pause, 2*time.Second) {
		actx, cancel := context.WithTimeout(ctx, per)
		err := attempt(actx)
		timedOut := actx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
		cancel()
		if err == nil || ctx.Err() != nil || !timedOut {
			return err
		}
		b.log.Warn("natsbus: creating "+what+" timed out; trying again", attr)
		select {
		case <-ctx.Done():
			return err
		case <-b.done:
			return errClosed
		case <-time.After(pause + rand.N(pause)):
		}
	}
}

// sameStream reports whether the stream configuration have holds the
// settings that want gives (the server fills in the others).
func sameStream(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) && have.Description == want.Description &&
		have.Retention == want.Retention && have.Discard == want.Discard &&
		have.MaxAge == want.MaxAge && have.MaxBytes == want.MaxBytes &&
		have.Storage == want.Storage && have.Replicas == want.Replicas &&
		have.Duplicates == want.Duplicates && have.AllowMsgSchedules == want.AllowMsgSchedules
}

func streamErr(name string, replicas int, err error) error {
	if replicas > 1 && strings.Contains(err.Error(), "replicas") {
		return fmt.Errorf("natsbus: stream %s with %d replicas: %w (set Replicas to what the cluster has)", name, replicas, err)
	}
	return fmt.Errorf("natsbus: stream %s: %w", name, err)
}

// ClientURL returns the URL at which network clients reach the embedded
// server, or "" when it has no listener (Embedded.Listen empty) or the bus
// uses an external cluster.
func (b *Bus) ClientURL() string {
	if b.srv == nil || b.opts.Embedded.Listen == "" {
		return ""
	}
	return b.srv.ClientURL()
}

// checkEvent returns the ErrInvalidEvent of an event that cannot be
// published.
func checkEvent(e *event.Event) error {
	if e == nil {
		return fmt.Errorf("%w: nil event", bus.ErrInvalidEvent)
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("%w: %w", bus.ErrInvalidEvent, err)
	}
	if err := event.ValidType(e.Type); err != nil {
		return fmt.Errorf("%w: %w", bus.ErrInvalidEvent, err)
	}
	return nil
}

// eventMsg returns the message of e on subject.
func eventMsg(subject string, e *event.Event, id string) *nats.Msg {
	return &nats.Msg{Subject: subject, Header: eventHeader(e, id, 0), Data: e.Data}
}

// Publish implements bus.Bus. The event is stored on the subject
// <prefix>.events.<type> with a Nats-Msg-Id made from its source and id;
// it is accepted once the server has stored it (with Replicas > 1, on a
// majority of the replicas).
//
// The backpressure check is exact for what this process publishes and
// settles, and lags by up to Options.Refresh for what other processes do;
// see the package documentation.
func (b *Bus) Publish(ctx context.Context, e *event.Event) (bus.PubAck, error) {
	if err := ctx.Err(); err != nil {
		return bus.PubAck{}, err
	}
	if b.closed.Load() {
		return bus.PubAck{}, errClosed
	}
	if err := checkEvent(e); err != nil {
		return bus.PubAck{}, err
	}
	if at, delayed, err := b.delay(e); err != nil || delayed {
		if err != nil {
			return bus.PubAck{}, err
		}
		return b.publishDelayed(ctx, e, at)
	}
	var buf [8]*subscription
	held, err := b.reserve(e.Type, nil, buf[:0])
	if err != nil {
		return bus.PubAck{}, err
	}
	r, err := b.publishMsg(ctx, eventMsg(b.eventsPrefix+e.Type, e, msgID(e.Source, e.ID)))
	if err != nil {
		b.release(held)
		return bus.PubAck{}, err
	}
	if r.dup {
		b.release(held)
	}
	return bus.PubAck{Seq: r.seq, Duplicate: r.dup}, nil
}

// publishErr maps an error of the client's publish.
func (b *Bus) publishErr(ctx context.Context, err error) error {
	switch {
	case b.closed.Load() && (errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionDraining)):
		return errClosed
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("%w: %w", bus.ErrInvalidEvent, err)
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining):
		return fmt.Errorf("natsbus: publish: %w: %w", bus.ErrUnavailable, err)
	}
	return fmt.Errorf("natsbus: publish: %w", err)
}

// PublishBatch implements bus.Bus. It publishes asynchronously, with up to
// 256 events waiting for their acknowledgement at once, and then waits for
// every acknowledgement.
//
// When an event fails after later ones were sent (a timeout, a lost
// connection), the later ones may have been accepted although they are not
// among the receipts returned; publishing them again reports them as
// duplicates within the dedup window, never doubles them.
func (b *Bus) PublishBatch(ctx context.Context, events []*event.Event, buf []bus.PubAck) ([]bus.PubAck, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.closed.Load() {
		return nil, errClosed
	}
	if len(events) == 0 {
		return buf[:0], nil
	}
	return b.publishBatch(ctx, events, buf)
}

// Subscribe implements bus.Bus: it creates the subscription's durable
// pull consumer (named sub.Name) or updates it, and attaches a consumer
// with a connection of its own.
func (b *Bus) Subscribe(ctx context.Context, sub bus.Subscription) (bus.Subscriber, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.closed.Load() {
		return nil, errClosed
	}
	patterns, err := sub.CompilePatterns()
	if err != nil {
		return nil, err
	}
	sub = sub.WithDefaults()
	queue := sub.Queue
	if queue == 0 {
		queue = b.opts.Queue
	}
	s, err := b.subscribeConsumer(ctx, sub, patterns, queue)
	if err != nil {
		return nil, err
	}
	if sub.Partitions > 0 {
		return b.subscribePartitions(s, sub.Partitions)
	}
	c, err := newSubscriber(b, s, 0)
	if err != nil {
		return nil, err
	}
	if err := b.attach(s, c); err != nil {
		return nil, err
	}
	return c, nil
}

// attach registers the consumer c of s, or closes it when the bus is
// closed.
func (b *Bus) attach(s *subscription, c *subscriber) error {
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		c.close(errClosed)
		return errClosed
	}
	s.consumers[c] = struct{}{}
	b.mu.Unlock()
	return nil
}

// subscribeConsumer is ensureConsumer with a bound on each attempt, tried
// again while ctx lasts when an attempt times out, as createStream does: a
// replicated consumer's creation waits for its raft group, which a busy
// cluster (several daemons subscribing at once on a fresh one, under load)
// may take longer than apiTimeout to form.
func (b *Bus) subscribeConsumer(ctx context.Context, sub bus.Subscription, patterns []event.Pattern, queue int) (*subscription, error) {
	var s *subscription
	err := b.retryTimeouts(ctx, apiTimeout, "a consumer", slog.String("subscription", sub.Name), func(actx context.Context) error {
		var err error
		s, err = b.ensureConsumer(actx, sub, patterns, queue)
		return err
	})
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return s, err
}

// Unsubscribe implements bus.Bus: it deletes the subscription's consumer.
func (b *Bus) Unsubscribe(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed.Load() {
		return errClosed
	}
	notFound := fmt.Errorf("natsbus: subscription %q: %w", name, bus.ErrNotFound)
	if !bus.ValidName(name) {
		return notFound
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	// The other partitions first, then the first, which names the
	// subscription: until it is gone, Subscribe finds the subscription
	// and makes the missing partitions again.
	if first, err := b.events.Consumer(ctx, name); err == nil {
		for k := partitions(first) - 1; k > 0; k-- {
			err := b.js.DeleteConsumer(ctx, b.eventsStream, partName(name, k))
			if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return fmt.Errorf("natsbus: delete subscription %q: partition %d: %w", name, k, err)
			}
		}
	}
	err := b.js.DeleteConsumer(ctx, b.eventsStream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		b.forget(name)
		return notFound
	}
	if err != nil {
		return fmt.Errorf("natsbus: delete subscription %q: %w", name, err)
	}
	b.forget(name)
	return nil
}

// forget drops the subscription name from the registry and closes its
// consumers in this process.
func (b *Bus) forget(name string) {
	b.mu.Lock()
	s := b.subs[name]
	var cs []*subscriber
	if s != nil {
		delete(b.subs, name)
		b.publishList()
		s.deleted.Store(true)
		for c := range s.consumers {
			cs = append(cs, c)
		}
	}
	b.mu.Unlock()
	for _, c := range cs {
		c.close(fmt.Errorf("natsbus: subscription %q deleted: %w", name, bus.ErrClosed))
	}
}

// Close implements bus.Bus. It closes the consumers (their undelivered
// and unsettled messages are released for immediate redelivery, after the
// restart for an embedded server), drains the connections, and shuts the
// embedded server down, waiting for it.
func (b *Bus) Close(ctx context.Context) error {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		b.cancel()
		close(b.done)
		go b.shutdown()
	})
	select {
	case <-b.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Bus) shutdown() {
	defer close(b.stopped)
	b.mu.Lock()
	var cs []*subscriber
	var subs []*subscription
	for _, s := range b.subs {
		subs = append(subs, s)
		for c := range s.consumers {
			cs = append(cs, c)
		}
	}
	b.mu.Unlock()
	for _, c := range cs {
		c.close(errClosed)
	}
	for _, s := range subs {
		s.releaseInflight(b)
	}
	b.wg.Wait()
	drain(b.nc)
	b.stopServer()
}

// drain drains nc and waits, a bounded while, for it to close.
func drain(nc *nats.Conn) {
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	deadline := time.Now().Add(apiTimeout)
	for !nc.IsClosed() {
		if time.Now().After(deadline) {
			nc.Close()
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func (b *Bus) stopServer() {
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}

// withTimeout gives ctx the default deadline when it has none.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, apiTimeout)
}
