package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/kv"
	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/wasm"
)

// ReplayOptions select the recorded events a replay runs and how.
type ReplayOptions struct {
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
	// over the plugin's space and are discarded.
	Candidate []byte
	// MaxItems caps the failures and differences listed in the report
	// (the counts are always complete). Zero means 100.
	MaxItems int
}

// ReplayReport is the outcome of a replay.
type ReplayReport struct {
	Subscription string `json:"subscription"`
	Shadow       bool   `json:"shadow"`
	// Version is the sha256 of the module that ran: the live version, or
	// the candidate.
	Version string `json:"version"`
	// Emit is true when emits were published.
	Emit     bool   `json:"emit"`
	FirstSeq uint64 `json:"first_seq,omitempty"`
	LastSeq  uint64 `json:"last_seq,omitempty"`
	// Events is the number of events replayed; Done, Retry and Rejected
	// count their outcomes (a replayed event is run once: a failure is
	// reported, not retried or dead-lettered).
	Events   int `json:"events"`
	Done     int `json:"done"`
	Retry    int `json:"retry"`
	Rejected int `json:"rejected"`
	// Emitted counts the events the handler emitted; Published those the
	// bus accepted as new and Duplicates those it dropped as repeats of
	// events published before (replay only).
	Emitted    int `json:"emitted"`
	Published  int `json:"published"`
	Duplicates int `json:"duplicates"`
	// Same, Different and Unrecorded count the events of a shadow replay
	// whose candidate emits equal the live version's, differ from them,
	// or have no record of a successful live run to compare with.
	Same       int `json:"same"`
	Different  int `json:"different"`
	Unrecorded int `json:"unrecorded"`
	// Failures lists failed runs and Diffs differences, up to MaxItems.
	Failures []ReplayFailure `json:"failures,omitempty"`
	Diffs    []ShadowDiff    `json:"diffs,omitempty"`
	Took     time.Duration   `json:"took_ns"`
}

// ReplayFailure is a replayed event whose run did not succeed.
type ReplayFailure struct {
	Seq     uint64 `json:"seq"`
	EventID string `json:"event_id"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
}

// ShadowDiff is an event for which the candidate's emits differ from the
// live version's.
type ShadowDiff struct {
	Seq       uint64 `json:"seq"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	// Differences says what differs, one line each.
	Differences []string `json:"differences"`
	// Live and Candidate are the two lists of emits.
	Live      []json.RawMessage `json:"live"`
	Candidate []json.RawMessage `json:"candidate"`
}

// ErrNoJournal is returned by Replay when the broker keeps no journal (the
// memory broker).
var ErrNoJournal = errors.New("host: replay needs a broker with a journal (kind embedded or nats); the memory broker keeps none")

// Replay runs the subscription's handler again over recorded events, one
// at a time in stream order. Its emits are published unless
// opts.NoEmit; with opts.Candidate it is a shadow replay, which publishes
// nothing. Runs of a replay are recorded with kind "replay".
func (h *Host) Replay(ctx context.Context, opts ReplayOptions) (*ReplayReport, error) {
	start := time.Now()
	if h.nbus == nil {
		return nil, ErrNoJournal
	}
	h.mu.Lock()
	p := h.cfg.Plugin(opts.Subscription)
	ph := h.plugins[opts.Subscription]
	h.mu.Unlock()
	if p == nil || ph == nil {
		return nil, fmt.Errorf("host: replay: no running plugin %q", opts.Subscription)
	}
	if opts.MaxItems <= 0 {
		opts.MaxItems = 100
	}
	rep := &ReplayReport{Subscription: p.Name, Shadow: opts.Candidate != nil, Emit: opts.Candidate == nil && !opts.NoEmit}
	log := h.log.With(slog.String("plugin", p.Name))

	var candidate *wasm.Plugin
	if opts.Candidate != nil {
		po, err := h.pluginOptions(p)
		if err != nil {
			return nil, err
		}
		po.Name = p.Name // emits keep the plugin's name: their ids then match the live ones
		if po.KV != nil {
			po.KV = kv.NewOverlay(po.KV)
		}
		po.Logger = log.With(slog.String("shadow", "candidate"))
		po.MinInstances, po.MaxInstances = 1, 1
		candidate, err = h.rt.Load(ctx, opts.Candidate, po)
		if err != nil {
			return nil, fmt.Errorf("host: shadow replay: the candidate is refused: %w", err)
		}
		defer candidate.Close()
		rep.Version = candidate.Hash()
	} else {
		rep.Version = ph.cur.Load().Hash()
	}
	log.Info("replay started", slog.Bool("shadow", rep.Shadow), slog.Bool("emit", rep.Emit),
		slog.Uint64("from_seq", opts.FromSeq), slog.Time("from_time", opts.FromTime),
		slog.Uint64("to_seq", opts.ToSeq), slog.Time("to_time", opts.ToTime))

	r := natsbus.Range{Patterns: p.Events, FromSeq: opts.FromSeq, FromTime: opts.FromTime, ToSeq: opts.ToSeq, ToTime: opts.ToTime}
	err := h.nbus.Read(ctx, r, func(rec natsbus.Recorded) error {
		if rep.FirstSeq == 0 {
			rep.FirstSeq = rec.Seq
		}
		rep.LastSeq = rec.Seq
		rep.Events++
		if candidate != nil {
			return h.shadowOne(ctx, candidate, p.Name, rec, rep, opts.MaxItems)
		}
		return h.replayOne(ctx, ph, rec, rep, opts)
	})
	rep.Took = time.Since(start)
	if err != nil {
		return rep, fmt.Errorf("host: replay of %q stopped after %d events: %w", p.Name, rep.Events, err)
	}
	log.Info("replay finished", slog.Int("events", rep.Events), slog.Int("done", rep.Done),
		slog.Int("failed", rep.Retry+rep.Rejected), slog.Int("published", rep.Published),
		slog.Int("different", rep.Different), slog.Duration("took", rep.Took))
	return rep, nil
}

// replayOne runs the live version on one recorded event.
func (h *Host) replayOne(ctx context.Context, ph *pluginHandler, rec natsbus.Recorded, rep *ReplayReport, opts ReplayOptions) error {
	t0 := time.Now()
	out := ph.Handle(ctx, rec.Event, 1)
	if err := ctx.Err(); err != nil {
		return err
	}
	status := statusName(wasm.Status(out.Status))
	rec2 := &runlog.Record{
		Kind: runlog.KindReplay, Subscription: ph.name, Plugin: ph.name, Version: ph.cur.Load().Hash(),
		EventID: rec.Event.ID, EventSource: rec.Event.Source, EventType: rec.Event.Type, EventSeq: rec.Seq,
		EventTime: rec.Event.Time, Attempt: 1, Status: status, Reason: out.Reason, Start: t0, Duration: time.Since(t0), Emits: out.Emits,
	}
	if !rep.count(status) {
		rep.fail(rec, status, out.Reason, opts.MaxItems)
	} else {
		rep.Emitted += len(out.Emits)
		if !opts.NoEmit && len(out.Emits) > 0 {
			acks, err := h.bus.PublishBatch(ctx, out.Emits)
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
	h.recorder.Add(rec2)
	return nil
}

// shadowOne runs the candidate on one recorded event and compares its
// emits with the live version's last successful run of the event.
func (h *Host) shadowOne(ctx context.Context, candidate *wasm.Plugin, sub string, rec natsbus.Recorded, rep *ReplayReport, maxItems int) error {
	res := candidate.Call(ctx, rec.Event)
	if err := ctx.Err(); err != nil {
		return err
	}
	status := statusName(res.Status)
	if !rep.count(status) {
		rep.fail(rec, status, res.Reason, maxItems)
	}
	rep.Emitted += len(res.Emits)
	live, ok, err := h.liveEmits(ctx, sub, rec.Event.ID)
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
		rep.Diffs = append(rep.Diffs, ShadowDiff{
			Seq: rec.Seq, EventID: rec.Event.ID, EventType: rec.Event.Type,
			Differences: diffs, Live: rawEvents(live), Candidate: rawEvents(cand),
		})
	}
	return nil
}

// liveEmits returns the emits of the last successful delivery of the event
// to sub, from the run records.
func (h *Host) liveEmits(ctx context.Context, sub, eventID string) ([]*event.Event, bool, error) {
	recs, err := h.runStore.ByEvent(ctx, eventID)
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
func (rep *ReplayReport) count(status string) bool {
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

func (rep *ReplayReport) fail(rec natsbus.Recorded, status, reason string, maxItems int) {
	if len(rep.Failures) < maxItems {
		rep.Failures = append(rep.Failures, ReplayFailure{Seq: rec.Seq, EventID: rec.Event.ID, Status: status, Reason: reason})
	}
}

func statusName(s wasm.Status) string {
	switch s {
	case wasm.Done:
		return runlog.StatusDone
	case wasm.Retry:
		return runlog.StatusRetry
	default:
		return runlog.StatusReject
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
