package host

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/kv"
	"github.com/evhost/evhost/host/metrics"
	"github.com/evhost/evhost/host/runlog"
)

// memoryRuns is the number of run records the host keeps in memory when
// the broker is the memory bus.
const memoryRuns = 100_000

// openRuns opens the store of run records: a stream beside the events when
// the broker is NATS (it survives restarts and every daemon shares it),
// else a bounded store in memory.
func (h *Host) openRuns(ctx context.Context, cfg *config.Config) error {
	if h.nbus != nil {
		s, err := natsbus.Runs(ctx, h.nbus, natsbus.RunsOptions{MaxAge: cfg.Broker.RunsMaxAge})
		if err != nil {
			return fmt.Errorf("host: run records: %w", err)
		}
		h.runs = s
	} else {
		h.runs = runlog.NewMemory(memoryRuns)
	}
	h.recorder = runlog.NewRecorder(h.runs, runlog.RecorderOptions{
		Describe: h.describeRoute,
		Logger:   h.log.With(slog.String("component", "runlog")),
	})
	return nil
}

// describeRoute names the plugin and the version that serve a route now.
func (h *Host) describeRoute(route string) (plugin, version string) {
	if p := h.reg.Snapshot().Plugin(route); p != nil {
		return route, p.Current().Hash()
	}
	return route, ""
}

// Runs returns the store of run records: every handler run, its outcome
// and its emits.
func (h *Host) Runs() runlog.Store { return h.runs }

// FlushRuns waits until the run records of every run reported so far are
// stored.
func (h *Host) FlushRuns(ctx context.Context) error {
	if h.recorder == nil {
		return nil
	}
	return h.recorder.Flush(ctx)
}

// observer reports every handled delivery to the metrics, to the run
// recorder and to the Observer of Options, if any.
type observer struct {
	m    *metrics.Metrics
	rec  *runlog.Recorder
	next dispatch.Observer
}

// Handled implements dispatch.Observer.
func (o observer) Handled(route string, ev *event.Event, attempt int, out dispatch.Outcome, took time.Duration) {
	o.m.Handled(route, ev, attempt, out, took)
	o.rec.Handled(route, ev, attempt, out.Status.String(), out.Reason, out.Emits, took)
	if o.next != nil {
		o.next.Handled(route, ev, attempt, out, took)
	}
}

// Filtered implements dispatch.FilterObserver.
func (o observer) Filtered(route string, ev *event.Event, err error) {
	o.m.Filtered(route, ev, err)
	if fo, ok := o.next.(dispatch.FilterObserver); ok {
		fo.Filtered(route, ev, err)
	}
}

// kvSpaces are the plugins' key-value spaces, one per plugin across its
// versions: a JetStream KV bucket when the broker is NATS (shared by every
// daemon and kept across restarts), else one in memory.
type kvSpaces struct {
	mu     sync.Mutex
	spaces map[string]kv.Store
}

// store returns the function that gives a plugin its space.
func (s *kvSpaces) store(nbus *natsbus.Bus) func(p *config.Plugin) (kv.Store, error) {
	return func(p *config.Plugin) (kv.Store, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if st, ok := s.spaces[p.Name]; ok {
			return st, nil
		}
		var st kv.Store
		if nbus != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var err error
			st, err = natsbus.KV(ctx, nbus, p.Name, natsbus.KVOptions{MaxValueSize: int(p.KV.MaxValueBytes), MaxBytes: int64(p.KV.MaxBytes)})
			if err != nil {
				return nil, err
			}
		} else {
			st = kv.NewMemory(int(p.KV.MaxBytes))
		}
		if s.spaces == nil {
			s.spaces = map[string]kv.Store{}
		}
		s.spaces[p.Name] = st
		return st, nil
	}
}
