package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/kv"
	"github.com/evhost/evhost/host/outcome"
)

// Errors an HTTPClient returns to have http_request answer the guest with
// the matching ABI error code; any other error is -5 (transient).
var (
	ErrNotAllowed = errors.New("wasm: not permitted")  // -3
	ErrTooLarge   = errors.New("wasm: limit exceeded") // -4
)

// HTTPClient performs a plugin's outbound requests (the http_request
// capability). It enforces the plugin's allow-list, returning
// ErrNotAllowed, and its size caps, returning ErrTooLarge.
type HTTPClient interface {
	Do(ctx context.Context, req *HTTPRequest) (*HTTPResponse, error)
}

// Defaults of PluginOptions.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMemoryLimit = 64 << 20
	DefaultMaxEmits    = 100
	DefaultMaxDepth    = 16
	DefaultMaxLogBytes = 64 << 10
	// DefaultMaxEmitBytes is four times the largest event the default
	// broker carries (1 MiB): see RATIONALE.md.
	DefaultMaxEmitBytes = 4 << 20
	// DefaultIdleTimeout is how long an instance may stay idle before
	// the reaper closes it (down to MinInstances): see RATIONALE.md.
	DefaultIdleTimeout = 5 * time.Minute
)

// PluginOptions configures one plugin version. Zero values take the
// defaults above.
type PluginOptions struct {
	// Name identifies the plugin in logs, errors and emitted ids.
	Name string
	// Source is the CloudEvents source of the events it emits. Empty means
	// "evhost://plugins/" + Name.
	Source string
	// Timeout bounds every call, guest code and host functions included.
	Timeout time.Duration
	// MemoryLimit bounds each instance's linear memory and tables
	// together, in bytes (rounded up to 64 KiB pages). Tables may take up
	// to an eighth of it, at 8 bytes an element; what the module's tables
	// may reach is taken off its memory's maximum. A module whose memory or
	// tables start larger is refused at load.
	MemoryLimit uint64
	// MaxEmits caps the events one call may emit; MaxDepth caps the depth
	// of emitted events (the loop guard).
	MaxEmits int
	MaxDepth int
	// MaxEmitBytes caps the bytes one call may emit, its events' encodings
	// added up (a reactor's emit buffers, a command's JSON lines): the emit
	// that would pass it gets the limit error (-4) and the event is
	// dead-lettered, as past MaxEmits.
	MaxEmitBytes int
	// MaxLogBytes caps the log volume of one call; lines past it are
	// dropped and counted.
	MaxLogBytes int
	// MinInstances are created at load and kept warm; MaxInstances bounds
	// concurrent calls (callers wait for a free instance). With
	// MinInstances 0, the instance that checks the module at load is
	// closed at once, and the first call instantiates one.
	MinInstances int
	MaxInstances int
	// IdleTimeout closes an instance idle for that long (it is closed
	// between IdleTimeout and 1.5 times it), keeping MinInstances. Zero
	// means DefaultIdleTimeout; negative, never.
	IdleTimeout time.Duration
	// An instance is recycled after MaxCalls calls or MaxAge; zero (or
	// less) means never, as in the daemon's config (see RATIONALE.md).
	MaxCalls int
	MaxAge   time.Duration
	// Config holds the plugin's configuration values, already rendered as
	// text (config_get).
	Config map[string]string
	// Env holds the environment variables the WASI guest may read.
	Env map[string]string
	// KV grants the kv_* functions when non-nil.
	KV kv.Store
	// HTTP grants http_request when non-nil.
	HTTP HTTPClient
	// AllowEmit, when non-nil, says which event types the plugin may emit
	// (-3 otherwise).
	AllowEmit func(eventType string) bool
	// Logger receives the plugin's log lines, attributed to the plugin and
	// the event. Nil means the runtime's logger.
	Logger *slog.Logger
}

func (o *PluginOptions) granted(capability string) bool {
	switch capability {
	case "kv":
		return o.KV != nil
	case "http":
		return o.HTTP != nil
	}
	return false
}

func (o *PluginOptions) setDefaults(r *Runtime) {
	if o.Source == "" {
		o.Source = "evhost://plugins/" + o.Name
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MemoryLimit == 0 {
		o.MemoryLimit = DefaultMemoryLimit
	}
	if o.MaxEmits <= 0 {
		o.MaxEmits = DefaultMaxEmits
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxEmitBytes <= 0 {
		o.MaxEmitBytes = DefaultMaxEmitBytes
	}
	if o.MaxLogBytes <= 0 {
		o.MaxLogBytes = DefaultMaxLogBytes
	}
	if o.MaxInstances <= 0 {
		o.MaxInstances = 4
	}
	if o.MinInstances < 0 {
		o.MinInstances = 0
	}
	if o.MinInstances > o.MaxInstances {
		o.MinInstances = o.MaxInstances
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Logger == nil {
		o.Logger = r.logger
	}
	o.Logger = o.Logger.With(slog.String("plugin", o.Name))
}

// Status is the outcome of a call (ABI v1, section 5): the one enum the
// dispatcher acts on too.
type Status = outcome.Status

// Statuses of a call.
const (
	// Done: acknowledge; the emitted events are published.
	Done = outcome.Done
	// Retry: failed; retry later with backoff, then dead-letter.
	Retry = outcome.Retry
	// Reject: failed; dead-letter now.
	Reject = outcome.Reject
)

// Result is the outcome of one call.
type Result struct {
	Status Status
	// Reason says why a call failed: the reason the guest gave with fail,
	// or what the host saw (a trap, a timeout, a limit).
	Reason string
	// Err is the host-side error behind a failure, if any (ErrTimeout,
	// ErrCanceled, ErrGuestFault, a trap).
	Err error
	// Emits are the events the call emitted, in order, with the
	// host-owned attributes filled in. Nil unless Status is Done.
	Emits []*event.Event
	// LogsDropped counts the log lines dropped past the log cap.
	LogsDropped int
}

// Stats are counters of a plugin version.
type Stats struct {
	Instances      int    `json:"instances"`      // live instances
	Idle           int    `json:"idle"`           // idle instances
	Instantiations uint64 `json:"instantiations"` // instances created
	Discards       uint64 `json:"discards"`       // instances discarded after a failure
	Recycles       uint64 `json:"recycles"`       // instances retired after MaxCalls or MaxAge
	Calls          uint64 `json:"calls"`
	IdleCloses     uint64 `json:"idle_closes"` // instances closed after IdleTimeout
	Evictions      uint64 `json:"evictions"`   // times its compiled module was evicted
	Compiled       bool   `json:"compiled"`    // its compiled module is in memory
}

// Plugin is one loaded version of a plugin module. It is safe for
// concurrent use.
type Plugin struct {
	r        *Runtime
	name     string
	hash     string
	kind     Kind
	opts     PluginOptions
	c        *compiled
	loadedAt time.Time
	pool     *pool

	instantiations, discards, recycles atomic.Uint64
	commandCalls                       atomic.Uint64 // a reactor's calls are counted by its pool
	idleCloses, evictions              atomic.Uint64
	compiled                           atomic.Bool // c.mod != nil, for Stats without waiting on cmu

	cmu       sync.Mutex // guards c.mod (see module)
	closeOnce sync.Once
}

// Load compiles and checks one version of a plugin and, for a reactor,
// pre-warms its pool with MinInstances instances (at least one, which
// checks _initialize and the ABI version). A module that breaks any rule
// of ABI v1 is refused with a *LoadError that names the problem.
func (r *Runtime) Load(ctx context.Context, wasmBytes []byte, opts PluginOptions) (*Plugin, error) {
	opts.setDefaults(r)
	sum := sha256.Sum256(wasmBytes)
	c, err := r.compile(ctx, opts.Name, wasmBytes, sum, &opts)
	if err != nil {
		return nil, err
	}
	p := &Plugin{
		r: r, name: opts.Name, hash: hex.EncodeToString(sum[:]), kind: c.kind,
		opts: opts, c: c, loadedAt: time.Now(),
	}
	p.compiled.Store(true)
	if c.kind == Reactor {
		p.pool = newPool(p) // before track: the reaper reads it
	}
	if err := r.track(p); err != nil {
		c.mod.Close(ctx)
		return nil, err
	}
	r.resident.Add(c.size)
	r.residentN.Add(1)
	if c.kind == Reactor {
		if err := p.pool.prewarm(ctx, max(1, opts.MinInstances)); err != nil {
			p.Close()
			p.pool.wait(ctx)
			return nil, err
		}
		if opts.MinInstances == 0 {
			p.pool.trim(math.MaxInt64, 0, false) // it only checked the module
		}
	}
	r.enforceBudget()
	return p, nil
}

// Name returns the plugin's name.
func (p *Plugin) Name() string { return p.name }

// Hash returns the hex sha256 of the module bytes this version was loaded
// from.
func (p *Plugin) Hash() string { return p.hash }

// Kind returns the kind of module.
func (p *Plugin) Kind() Kind { return p.kind }

// LoadedAt returns when this version was loaded.
func (p *Plugin) LoadedAt() time.Time { return p.loadedAt }

// Stats returns the plugin's counters.
func (p *Plugin) Stats() Stats {
	s := Stats{
		Calls:          p.commandCalls.Load(),
		Instantiations: p.instantiations.Load(),
		Discards:       p.discards.Load(),
		Recycles:       p.recycles.Load(),
	}
	if p.pool != nil {
		s.Instances, s.Idle, s.Calls = p.pool.counts()
	}
	s.IdleCloses, s.Evictions, s.Compiled = p.idleCloses.Load(), p.evictions.Load(), p.compiled.Load()
	return s
}

// Call runs the plugin on one event and returns the outcome. ctx bounds
// the wait for a free instance and cancels the call; the plugin's Timeout
// bounds the call itself. A failure of the guest is reported in the
// Result, never as a panic, and the instance it ran on is discarded.
func (p *Plugin) Call(ctx context.Context, ev *event.Event) Result {
	return p.CallAttempt(ctx, ev, 0)
}

// CallAttempt is Call for the attempt-th delivery of ev (from 1), which
// the plugin's log lines of the call carry beside the event's id and type.
func (p *Plugin) CallAttempt(ctx context.Context, ev *event.Event, attempt int) Result {
	return p.CallAttemptOn(ctx, ev, attempt, -1)
}

// CallAttemptOn is CallAttempt for a caller that makes one call at a time
// and names itself lane (from 0; a dispatcher's worker, say; negative
// means none): the instance its last call ran on serves its next one
// while no other caller needed it meanwhile, taken without a lock and
// with its memory still in the cache of the core the caller ran on.
func (p *Plugin) CallAttemptOn(ctx context.Context, ev *event.Event, attempt, lane int) Result {
	if p.kind == Command {
		p.commandCalls.Add(1)
		return p.callCommand(ctx, ev, attempt)
	}
	pl := p.pool
	laned := uint(lane) < uint(len(pl.lanes))
	var in *instance
	if laned {
		in = pl.lanes[lane].in.Swap(nil)
	}
	if in == nil {
		var err error
		if in, err = pl.acquire(ctx); err != nil {
			return Result{Status: Retry, Reason: err.Error(), Err: err}
		}
	}
	var res Result
	in.callInto(ctx, ev, attempt, &res)
	if failed := res.Err != nil; failed || !laned || !pl.park(in, lane) {
		pl.release(in, failed)
	}
	return res
}

// Close retires this version: calls that have not started fail with
// ErrClosed, calls in flight finish, and each instance is closed when its
// call returns. Done reports when the last one is closed.
func (p *Plugin) Close() {
	p.closeOnce.Do(func() {
		if p.pool != nil {
			p.pool.close()
		} else {
			p.freeModule()
			p.r.untrack(p)
		}
	})
}

// Done returns a channel closed when a closed plugin's last instance has
// been released and its compiled code freed.
func (p *Plugin) Done() <-chan struct{} {
	if p.pool != nil {
		return p.pool.done
	}
	ch := make(chan struct{})
	close(ch)
	return ch
}
