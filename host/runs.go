package host

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
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
		s, err := openNATSRuns(ctx, h, cfg)
		if err != nil {
			return fmt.Errorf("host: run records: %w", err)
		}
		h.runStore = s
	} else {
		h.runStore = runlog.NewMemory(memoryRuns)
	}
	h.recorder = runlog.NewRecorder(h.runStore, runlog.RecorderOptions{
		Describe: h.describeRoute,
		Logger:   h.log.With(slog.String("component", "runlog")),
	})
	return nil
}

// describeRoute names the plugin and the version that serve a route now.
func (h *Host) describeRoute(route string) (plugin, version string) {
	h.mu.Lock()
	ph := h.plugins[route]
	h.mu.Unlock()
	if ph == nil {
		return route, ""
	}
	return route, ph.cur.Load().Hash()
}

// Runs returns the store of run records: every handler run, its outcome
// and its emits.
func (h *Host) Runs() runlog.Store { return h.runStore }

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
	m    *metrics
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

// openNATSRuns opens the run records' stream on the NATS bus.
func openNATSRuns(ctx context.Context, h *Host, cfg *config.Config) (runlog.Store, error) {
	return natsbus.Runs(ctx, h.nbus, natsbus.RunsOptions{MaxAge: cfg.Broker.RunsMaxAge})
}
