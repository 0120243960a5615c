package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/kv"
	"github.com/evhost/evhost/host/registry"
	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/wasm"
)

// Options select the recorded events a replay runs and how.
type Options struct {
	// Subscription is the plugin whose subscription is replayed: its
	// patterns select the events.
	Subscription string
	// FromSeq or FromTime is where the range starts (at most one; neither
	// means the oldest event kept); ToSeq or ToTime where it ends, both
	// ends included (neither means the last event stored when the replay
	// began).
	FromSeq  uint64
	FromTime time.Time
	ToSeq    uint64
	ToTime   time.Time
	// NoEmit drops the events the handler emits instead of publishing
	// them. By default they are published, with the same deterministic
	// ids as the first time: within the broker's dedup window the bus
	// drops them as duplicates, past it they are published again.
	NoEmit bool
	// Candidate, when not nil, makes the replay a shadow replay: these
	// module bytes are loaded as a version of the plugin that is not live
	// and run over the range; their emits are captured and compared with
	// what the live version emitted (from the run records), and nothing is
	// published. The candidate's key-value writes go to a scratch layer
	// over the plugin's space and are discarded; its http_request sends
	// nothing: each call gets error -5 (transient) and is listed in the
	// report (HTTPStubbed, HTTP).
	Candidate []byte
	// MaxItems caps the failures and differences listed in the report
	// (the counts are always complete). Zero means 100.
	MaxItems int
}

// ErrNoJournal is returned by Replay when the broker keeps no journal (the
// memory broker).
var ErrNoJournal = errors.New("replay: replay needs a broker with a journal (kind embedded or nats); the memory broker keeps none")

// Replayer replays subscriptions of the plugins of a registry.
type Replayer struct {
	// Journal reads the recorded events; nil (the memory broker) makes
	// every replay ErrNoJournal.
	Journal bus.Journal
	// Publisher publishes a replay's emits.
	Publisher bus.Publisher
	// Registry has the live plugins and loads a shadow candidate.
	Registry *registry.Registry
	// Runs are the run records (a shadow replay compares with them);
	// Recorder records the replay's runs, with kind "replay".
	Runs     runlog.Store
	Recorder *runlog.Recorder
	Logger   *slog.Logger
}

// Replay runs the subscription's handler again over recorded events, one
// at a time in stream order. Its emits are published unless
// opts.NoEmit; with opts.Candidate it is a shadow replay, which publishes
// nothing. Runs of a replay are recorded with kind "replay".
func (rp *Replayer) Replay(ctx context.Context, opts Options) (*api.ReplayReport, error) {
	start := time.Now()
	if rp.Journal == nil {
		return nil, ErrNoJournal
	}
	snap := rp.Registry.Snapshot()
	p, ok := snap.Spec(opts.Subscription)
	ph := snap.Plugin(opts.Subscription)
	if !ok || ph == nil {
		return nil, fmt.Errorf("replay: no running plugin %q", opts.Subscription)
	}
	if opts.MaxItems <= 0 {
		opts.MaxItems = 100
	}
	rep := &api.ReplayReport{Subscription: p.Name, Shadow: opts.Candidate != nil, Emit: opts.Candidate == nil && !opts.NoEmit}
	log := rp.Logger.With(slog.String("plugin", p.Name))

	var candidate *wasm.Plugin
	var stub *httpStub
	if opts.Candidate != nil {
		po, err := p.PluginOptions()
		if err != nil {
			return nil, err
		}
		po.Name = p.Name // emits keep the plugin's name: their ids then match the live ones
		if po.KV != nil {
			po.KV = kv.NewOverlay(po.KV)
		}
		if po.HTTP != nil {
			stub = &httpStub{}
			po.HTTP = stub
		}
		po.Logger = log.With(slog.String("shadow", "candidate"))
		po.MinInstances, po.MaxInstances = 1, 1
		candidate, err = rp.Registry.Loader().Runtime().Load(ctx, opts.Candidate, po)
		if err != nil {
			return nil, fmt.Errorf("replay: shadow replay: the candidate is refused: %w", err)
		}
		defer candidate.Close()
		rep.Version = candidate.Hash()
	} else {
		rep.Version = ph.Current().Hash()
	}
	log.Info("replay started", slog.Bool("shadow", rep.Shadow), slog.Bool("emit", rep.Emit),
		slog.Uint64("from_seq", opts.FromSeq), slog.Time("from_time", opts.FromTime),
		slog.Uint64("to_seq", opts.ToSeq), slog.Time("to_time", opts.ToTime))

	r := bus.Range{Patterns: p.Route.Patterns, FromSeq: opts.FromSeq, FromTime: opts.FromTime, ToSeq: opts.ToSeq, ToTime: opts.ToTime}
	err := rp.Journal.Read(ctx, r, func(rec bus.Recorded) error {
		if rep.FirstSeq == 0 {
			rep.FirstSeq = rec.Seq
		}
		rep.LastSeq = rec.Seq
		rep.Events++
		if candidate != nil {
			err := rp.shadowOne(ctx, candidate, p.Name, rec, rep, opts.MaxItems)
			if stub != nil {
				for _, r := range stub.take() {
					rep.HTTPStubbed++
					if len(rep.HTTP) < opts.MaxItems {
						r.Seq, r.EventID = rec.Seq, rec.Event.ID
						rep.HTTP = append(rep.HTTP, r)
					}
				}
			}
			return err
		}
		return rp.replayOne(ctx, ph, rec, rep, opts)
	})
	rep.Took = time.Since(start)
	if err != nil {
		return rep, fmt.Errorf("replay: replay of %q stopped after %d events: %w", p.Name, rep.Events, err)
	}
	log.Info("replay finished", slog.Int("events", rep.Events), slog.Int("done", rep.Done),
		slog.Int("failed", rep.Retry+rep.Rejected), slog.Int("published", rep.Published),
		slog.Int("different", rep.Different), slog.Int("http_stubbed", rep.HTTPStubbed), slog.Duration("took", rep.Took))
	return rep, nil
}

// replayOne runs the live version on one recorded event.
func (rp *Replayer) replayOne(ctx context.Context, ph *registry.Plugin, rec bus.Recorded, rep *api.ReplayReport, opts Options) error {
	t0 := time.Now()
	out := ph.Handle(ctx, rec.Event, 1)
	if err := ctx.Err(); err != nil {
		return err
	}
	status := out.Status.String()
	rec2 := &runlog.Record{
		Kind: runlog.KindReplay, Subscription: ph.Name(), Plugin: ph.Name(), Version: ph.Current().Hash(),
		EventID: rec.Event.ID, EventSource: rec.Event.Source, EventType: rec.Event.Type, EventSeq: rec.Seq,
		EventTime: rec.Event.Time, Attempt: 1, Status: status, Reason: out.Reason, Start: t0, Duration: time.Since(t0), Emits: out.Emits,
	}
	if !count(rep, status) {
		fail(rep, rec, status, out.Reason, opts.MaxItems)
	} else {
		rep.Emitted += len(out.Emits)
		if !opts.NoEmit && len(out.Emits) > 0 {
			acks, err := rp.Publisher.PublishBatch(ctx, out.Emits, nil)
			for _, a := range acks {
				if a.Duplicate {
					rep.Duplicates++
				} else {
					rep.Published++
				}
			}
			if err != nil {
				return fmt.Errorf("publishing the emits of event %s (seq %d): %w", rec.Event.ID, rec.Seq, err)
			}
		}
	}
	if rp.Recorder != nil {
		rp.Recorder.Add(rec2)
	}
	return nil
}

// shadowOne runs the candidate on one recorded event and compares its
// emits with the live version's last successful run of the event.
func (rp *Replayer) shadowOne(ctx context.Context, candidate *wasm.Plugin, sub string, rec bus.Recorded, rep *api.ReplayReport, maxItems int) error {
	res := candidate.Call(ctx, rec.Event)
	if err := ctx.Err(); err != nil {
		return err
	}
	status := res.Status.String()
	if !count(rep, status) {
		fail(rep, rec, status, res.Reason, maxItems)
	}
	rep.Emitted += len(res.Emits)
	live, ok, err := rp.liveEmits(ctx, sub, rec.Event.ID)
	if err != nil {
		return err
	}
	if !ok {
		rep.Unrecorded++
		return nil
	}
	var cand []*event.Event
	if status == runlog.StatusDone {
		cand = res.Emits
	}
	diffs := diffEmits(live, cand)
	if status != runlog.StatusDone {
		diffs = append([]string{"the candidate failed (" + status + "): " + res.Reason}, diffs...)
	}
	if len(diffs) == 0 {
		rep.Same++
		return nil
	}
	rep.Different++
	if len(rep.Diffs) < maxItems {
		rep.Diffs = append(rep.Diffs, api.ShadowDiff{
			Seq: rec.Seq, EventID: rec.Event.ID, EventType: rec.Event.Type,
			Differences: diffs, Live: rawEvents(live), Candidate: rawEvents(cand),
		})
	}
	return nil
}

// liveEmits returns the emits of the last successful delivery of the event
// to sub, from the run records.
func (rp *Replayer) liveEmits(ctx context.Context, sub, eventID string) ([]*event.Event, bool, error) {
	recs, err := rp.Runs.ByEvent(ctx, eventID)
	if err != nil {
		return nil, false, fmt.Errorf("reading the run records of event %s: %w", eventID, err)
	}
	for i := len(recs) - 1; i >= 0; i-- {
		r := &recs[i]
		if r.Subscription == sub && r.Kind == runlog.KindDelivery && r.Status == runlog.StatusDone && !r.Truncated {
			return r.Emits, true, nil
		}
	}
	return nil, false, nil
}

// count counts an outcome and reports whether it is a success.
func count(rep *api.ReplayReport, status string) bool {
	switch status {
	case runlog.StatusDone:
		rep.Done++
		return true
	case runlog.StatusRetry:
		rep.Retry++
	default:
		rep.Rejected++
	}
	return false
}

func fail(rep *api.ReplayReport, rec bus.Recorded, status, reason string, maxItems int) {
	if len(rep.Failures) < maxItems {
		rep.Failures = append(rep.Failures, api.ReplayFailure{Seq: rec.Seq, EventID: rec.Event.ID, Status: status, Reason: reason})
	}
}

// diffEmits describes how b differs from a, ignoring the attributes the
// host stamps differently on every run (id, time, traceparent). JSON data
// compares by value, not by bytes.
func diffEmits(a, b []*event.Event) []string {
	var d []string
	if len(a) != len(b) {
		d = append(d, fmt.Sprintf("live emitted %d events, the candidate %d", len(a), len(b)))
	}
	for i := range min(len(a), len(b)) {
		x, y := a[i], b[i]
		field := func(name, u, v string) {
			if u != v {
				d = append(d, fmt.Sprintf("emit %d: %s: live %q, candidate %q", i, name, u, v))
			}
		}
		field("type", x.Type, y.Type)
		field("source", x.Source, y.Source)
		field("subject", x.Subject, y.Subject)
		field("datacontenttype", x.DataContentType, y.DataContentType)
		field("dataschema", x.DataSchema, y.DataSchema)
		if !sameData(x, y) {
			d = append(d, fmt.Sprintf("emit %d: data: live %s, candidate %s", i, clip(x.Data), clip(y.Data)))
		}
		for _, name := range extNames(x, y) {
			u, _ := x.Ext(name)
			v, _ := y.Ext(name)
			field(name, u, v)
		}
	}
	return d
}

func extNames(x, y *event.Event) []string {
	seen := map[string]bool{}
	var names []string
	for _, e := range [2]*event.Event{x, y} {
		for _, a := range e.Extensions {
			if a.Name != event.ExtTraceParent && !seen[a.Name] {
				seen[a.Name] = true
				names = append(names, a.Name)
			}
		}
	}
	return names
}

func sameData(x, y *event.Event) bool {
	if bytes.Equal(x.Data, y.Data) {
		return true
	}
	if !event.IsJSONContentType(x.DataContentType) || !event.IsJSONContentType(y.DataContentType) {
		return false
	}
	var u, v any
	if json.Unmarshal(x.Data, &u) != nil || json.Unmarshal(y.Data, &v) != nil {
		return false
	}
	return reflect.DeepEqual(u, v)
}

func clip(b []byte) string {
	const n = 200
	if len(b) > n {
		return fmt.Sprintf("%q... (%d bytes)", b[:n], len(b))
	}
	return fmt.Sprintf("%q", b)
}

func rawEvents(es []*event.Event) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(es))
	for _, e := range es {
		out = append(out, event.AppendJSON(nil, e))
	}
	return out
}
