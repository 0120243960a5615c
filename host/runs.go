package host

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/evhost/evhost/host/broker"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/metrics"
	"github.com/evhost/evhost/host/runlog"
)

// openRuns opens the store of run records (broker.Runs) and the recorder
// that feeds it from the dispatcher's workers.
func (h *Host) openRuns(ctx context.Context, cfg *config.Config) (err error) {
	if h.runs, err = broker.Runs(ctx, h.nbus, cfg); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	h.recorder = runlog.NewRecorder(h.runs, runlog.RecorderOptions{
		Describe: h.describeRoute,
		Linger:   broker.RunsLinger(h.nbus),
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

// Handled implements dispatch.Observer (the dispatcher calls Ran instead).
func (o observer) Handled(route string, ev *event.Event, attempt int, out dispatch.Outcome, took time.Duration) {
	o.Route(route).Ran(ev, attempt, out, time.Now().Add(-took), took)
}

// Route implements dispatch.RouteObserver: the route's metrics, resolved
// once, and the dispatcher's reading of the clock for the run record.
func (o observer) Route(name string) dispatch.RunObserver {
	return &routeObserver{o, name, o.m.Route(name)}
}

type routeObserver struct {
	observer
	name string
	m    *metrics.Route
}

// RanAll implements dispatch.RunsObserver: the records of the runs go to
// the recorder together, with one take of its lock per 16.
func (o *routeObserver) RanAll(runs []dispatch.Run) {
	o.m.HandledAll(runs)
	var recs [16]runlog.Run
	for len(runs) > 0 {
		n := min(len(runs), len(recs))
		for i, rn := range runs[:n] {
			recs[i] = runlog.Run{
				Event: rn.Event, Attempt: rn.Attempt, Status: rn.Outcome.Status.String(), Reason: rn.Outcome.Reason,
				Emits: rn.Outcome.Emits, Start: rn.Start, Took: rn.Took,
			}
			if o.next != nil {
				o.next.Handled(o.name, rn.Event, rn.Attempt, rn.Outcome, rn.Took)
			}
		}
		o.rec.HandledAll(o.name, recs[:n])
		clear(recs[:n])
		runs = runs[n:]
	}
}

// Ran implements dispatch.RunObserver.
func (o *routeObserver) Ran(ev *event.Event, attempt int, out dispatch.Outcome, start time.Time, took time.Duration) {
	o.m.Handled(ev, attempt, out, took)
	o.rec.HandledAt(o.name, ev, attempt, out.Status.String(), out.Reason, out.Emits, start, took)
	if o.next != nil {
		o.next.Handled(o.name, ev, attempt, out, took)
	}
}

// Filtered implements dispatch.FilterObserver.
func (o observer) Filtered(route string, ev *event.Event, err error) {
	o.m.Filtered(route, ev, err)
	if fo, ok := o.next.(dispatch.FilterObserver); ok {
		fo.Filtered(route, ev, err)
	}
}
