package admin

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/httpapi"
	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/statusui"
)

// Why does the status page read everything through /v1 JSON endpoints,
// rendered in the browser, rather than HTML rendered by the daemon? The
// same answers serve the CLI, scripts and the page; the page's assets hold
// no data, so they can be public while the data stays behind the token;
// and the rendering code stays in one small file with no template of the
// daemon's to keep in step.
//
// Why are the rates, the recent runs and the latest dead letters kept by
// the status endpoint, read forward from a cursor on each request, rather
// than by a goroutine that samples on a ticker? Nothing runs when nobody
// looks; each request reads only what arrived since the one before; and
// the endpoint owns its state, so the host gains no goroutine to start
// and stop. The price: the first request has no rate yet (the rates need
// two samples, a second apart), and runs are followed from statusLookback
// before the first request.

// Bounds of what one status request reads.
const (
	// statusLookback is how far back the first request reads run records.
	statusLookback = 10 * time.Minute
	// statusPage and statusPages bound what one request reads from the run
	// records and from the dead letters: a daemon with a long backlog is
	// caught up over several requests.
	statusPage  = 1000
	statusPages = 8
	// statusSampleEvery is the minimum spacing of rate samples.
	statusSampleEvery = time.Second
)

// Counters are the counts the status shows, kept by the metrics.
type Counters interface {
	// Counts returns the deliveries handled, the attempts failed and the
	// events dead-lettered of the subscription name.
	Counts(name string) (handled, failed, deadLettered uint64)
	// Totals returns the events accepted from producers and the events
	// published (ingested and emitted).
	Totals() (ingested, published uint64)
}

// StatusOptions are what GET /v1/status reads.
type StatusOptions struct {
	// Version is the daemon's version; Broker the kind of bus.
	Version, Broker string
	// Runs are the run records; Flush, if set, waits until those of the
	// runs reported so far are stored.
	Runs  runlog.Store
	Flush func(context.Context) error
	// DeadLetters lists the dead letters.
	DeadLetters DeadLetterLister
	// Subscriptions returns the subscriptions the daemon runs (name,
	// patterns, kind), in config order; Plugins the plugins.
	Subscriptions func() []api.SubscriptionStatus
	Plugins       func() []api.PluginInfo
	// Counters count deliveries and events.
	Counters Counters
	// Pending, if set, returns the bus's estimate of each subscription's
	// unsettled events; nil when the bus does not tell. Paused, if set,
	// says which subscriptions are paused.
	Pending func() map[string]int64
	Paused  func() map[string]bool
	// InFlight, if set, counts the deliveries being handled now.
	InFlight func() map[string]int64
	// Backlog, if set, reports each subscription's oldest unsettled event
	// and the journal's retention (the age and the retention warning
	// shown); it asks the broker, within backlogWait.
	Backlog func(context.Context) (*bus.Backlog, error)
	Logger  *slog.Logger
	// Schedules, if set, lists the schedules and their counters.
	Schedules func() []api.ScheduleInfo
	// Sources, if set, returns the [sources] entries and their counters.
	Sources func() []api.SourceStatus
	// Wasm, if set, returns the wasm runtime's counters.
	Wasm func() api.WasmStats
}

// statusTracker serves GET /v1/status and keeps what it needs between
// requests: rate samples and cursors into the run records and the dead
// letters. Requests are serialized by mu.
type statusTracker struct {
	o       StatusOptions
	started time.Time

	mu       sync.Mutex
	samples  []rateSample     // oldest first, spaced by statusSampleEvery, within the window
	runAfter uint64           // the Seq of the last run record read
	runsRead bool             // runAfter is set (the first read goes by time)
	recent   []api.RunSummary // oldest first, api.StatusRecentRuns at most
	lastFail map[string]api.RunSummary
	dlAfter  uint64           // the ID of the last dead letter read
	latestDL []bus.DeadLetter // oldest first, api.StatusLatestDeadLetters at most
}

type rateSample struct {
	t time.Time
	counts
}

// counts are the host's counters summed, at one time.
type counts struct {
	ingested, published, handled, failed, dead float64
}

// Status offers GET /v1/status behind the token, and the status page
// (public: its assets hold no data) on /status/, with / and /status
// redirecting to it.
type Status struct{ st *statusTracker }

var _ httpapi.Routes = (*Status)(nil)

// NewStatus returns the status routes over o. Its rates and recent runs
// are kept from one request to the next.
func NewStatus(o StatusOptions) *Status {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Status{&statusTracker{o: o, started: time.Now(), lastFail: map[string]api.RunSummary{}}}
}

// Routes implements httpapi.Routes.
func (s *Status) Routes() []httpapi.Route {
	return []httpapi.Route{
		{Pattern: "GET /v1/status", Handler: http.HandlerFunc(s.st.serve)},
		{Pattern: "GET /status/", Handler: http.StripPrefix("/status", statusui.Handler()), Public: true},
		{Pattern: "GET /status", Handler: http.RedirectHandler("/status/", http.StatusFound), Public: true},
		{Pattern: "GET /{$}", Handler: http.RedirectHandler("/status/", http.StatusFound), Public: true},
	}
}

// serve is GET /v1/status.
func (st *statusTracker) serve(w http.ResponseWriter, r *http.Request) {
	if _, ok := httpapi.QueryParams(w, r); !ok {
		return
	}
	s, err := st.status(r.Context())
	if err != nil {
		httpapi.BusError(w, r, st.o.Logger, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, s)
}

// status takes the status now.
func (st *statusTracker) status(ctx context.Context) (*api.Status, error) {
	o := &st.o
	now := time.Now()
	if o.Flush != nil {
		if err := o.Flush(ctx); err != nil {
			o.Logger.LogAttrs(ctx, slog.LevelWarn, "status: flushing run records", slog.Any("error", err))
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s := &api.Status{
		Host: api.HostStatus{
			Version: o.Version, Started: st.started.UTC(), Time: now.UTC(),
			UptimeSeconds: now.Sub(st.started).Seconds(), Broker: o.Broker,
		},
		Subscriptions: st.fill(ctx, st.o.Subscriptions()),
	}
	if o.Schedules != nil {
		s.Schedules = o.Schedules()
	}
	var total counts
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		total.handled += float64(sub.Handled)
		total.failed += float64(sub.Failed)
		total.dead += float64(sub.DeadLettered)
	}
	ingested, published := o.Counters.Totals()
	total.ingested, total.published = float64(ingested), float64(published)
	s.Rates = st.rates(now, total)
	s.DeadLetters.SinceStart = uint64(total.dead)

	if err := st.readRuns(ctx, now); err != nil {
		return nil, err
	}
	s.RecentRuns = make([]api.RunSummary, 0, len(st.recent))
	for i := len(st.recent) - 1; i >= 0; i-- {
		s.RecentRuns = append(s.RecentRuns, st.recent[i])
	}
	for _, p := range o.Plugins() {
		ps := api.PluginStatus{PluginInfo: p}
		if f, ok := st.lastFail[p.Name]; ok {
			ps.LastFailure = &f
		}
		s.Plugins = append(s.Plugins, ps)
	}
	if s.Plugins == nil {
		s.Plugins = []api.PluginStatus{}
	}

	if err := st.readDeadLetters(ctx); err != nil {
		return nil, err
	}
	s.Sources = []api.SourceStatus{}
	if o.Sources != nil {
		s.Sources = o.Sources()
	}
	if o.Wasm != nil {
		w := o.Wasm()
		s.Wasm = &w
	}
	s.DeadLetters.Latest = make([]api.DeadLetterInfo, 0, len(st.latestDL))
	for i := len(st.latestDL) - 1; i >= 0; i-- {
		s.DeadLetters.Latest = append(s.DeadLetters.Latest, deadLetterInfo(&st.latestDL[i]))
	}
	return s, nil
}

// rates adds a sample of c taken at now (unless the last is too recent)
// and returns the rates since the oldest sample in the window.
func (st *statusTracker) rates(now time.Time, c counts) api.Rates {
	cut := 0
	for cut < len(st.samples) && now.Sub(st.samples[cut].t) > api.StatusRateWindow {
		cut++
	}
	st.samples = st.samples[cut:]
	if n := len(st.samples); n == 0 || now.Sub(st.samples[n-1].t) >= statusSampleEvery {
		st.samples = append(st.samples, rateSample{t: now, counts: c})
	}
	base := st.samples[0]
	dt := now.Sub(base.t).Seconds()
	if dt <= 0 {
		return api.Rates{}
	}
	per := func(a, b float64) float64 { return max(0, a-b) / dt }
	return api.Rates{
		WindowSeconds: dt,
		Ingested:      per(c.ingested, base.ingested),
		Published:     per(c.published, base.published),
		Handled:       per(c.handled, base.handled),
		Failed:        per(c.failed, base.failed),
		DeadLettered:  per(c.dead, base.dead),
	}
}

// readRuns reads the run records appended since the last request (since
// statusLookback on the first), keeping the last StatusRecentRuns and the
// last failure of each plugin.
func (st *statusTracker) readRuns(ctx context.Context, now time.Time) error {
	store := st.o.Runs
	for range statusPages {
		f := runlog.Filter{After: st.runAfter, Limit: statusPage}
		if !st.runsRead {
			f.Since = now.Add(-statusLookback)
		}
		recs, err := store.List(ctx, f)
		if err != nil {
			return err
		}
		for i := range recs {
			r := &recs[i]
			st.runAfter = max(st.runAfter, r.Seq)
			st.runsRead = true
			if r.Kind == runlog.KindShadow {
				continue
			}
			sum := runSummary(r)
			st.recent = append(st.recent, sum)
			if r.Status != runlog.StatusDone && r.Plugin != "" && r.Version != "" {
				st.lastFail[r.Plugin] = sum
			}
		}
		if over := len(st.recent) - api.StatusRecentRuns; over > 0 {
			st.recent = slices.Delete(st.recent, 0, over)
		}
		if len(recs) < statusPage {
			break
		}
	}
	return nil
}

func runSummary(r *runlog.Record) api.RunSummary {
	return api.RunSummary{
		Kind: r.Kind, Subscription: r.Subscription, Plugin: r.Plugin, Version: r.Version,
		EventID: r.EventID, EventType: r.EventType, Attempt: r.Attempt, Status: r.Status,
		Reason: r.Reason, Start: r.Start.UTC(), DurationNS: int64(r.Duration), Emits: len(r.Emits),
	}
}

// readDeadLetters reads the dead letters added since the last request,
// keeping the latest, and drops those of the latest that are gone
// (redriven).
func (st *statusTracker) readDeadLetters(ctx context.Context) error {
	b := st.o.DeadLetters
	kept := st.latestDL[:0]
	for _, dl := range st.latestDL {
		got, err := b.DeadLetters(ctx, bus.DeadLetterFilter{After: dl.ID - 1, Limit: 1})
		if err != nil {
			return err
		}
		if len(got) == 1 && got[0].ID == dl.ID {
			kept = append(kept, dl)
		}
	}
	st.latestDL = kept
	for range statusPages {
		dls, err := b.DeadLetters(ctx, bus.DeadLetterFilter{After: st.dlAfter, Limit: statusPage})
		if err != nil {
			return err
		}
		for i := range dls {
			st.dlAfter = max(st.dlAfter, dls[i].ID)
		}
		st.latestDL = append(st.latestDL, dls[max(0, len(dls)-api.StatusLatestDeadLetters):]...)
		if over := len(st.latestDL) - api.StatusLatestDeadLetters; over > 0 {
			st.latestDL = slices.Delete(st.latestDL, 0, over)
		}
		if len(dls) < statusPage {
			break
		}
	}
	return nil
}

// backlogWait bounds the wait for the broker's backlog report: past it,
// the status goes without the ages and warnings.
const backlogWait = 3 * time.Second

// Fill fills in the pending count, the paused state, the age of the
// oldest pending event, the retention warning and the counters of subs
// (whose names, patterns, kinds and running state are set).
func (s *Status) Fill(subs []api.SubscriptionStatus) []api.SubscriptionStatus {
	return s.st.fill(context.Background(), subs)
}

func (st *statusTracker) fill(ctx context.Context, subs []api.SubscriptionStatus) []api.SubscriptionStatus {
	o := &st.o
	var backlog *bus.Backlog
	if o.Backlog != nil {
		bctx, cancel := context.WithTimeout(ctx, backlogWait)
		var err error
		if backlog, err = o.Backlog(bctx); err != nil {
			o.Logger.LogAttrs(ctx, slog.LevelWarn, "status: the broker's backlog report", slog.Any("error", err))
		}
		cancel()
	}
	now := time.Now()
	var pending map[string]int64
	if o.Pending != nil {
		pending = o.Pending()
	}
	var paused map[string]bool
	if o.Paused != nil {
		paused = o.Paused()
	}
	var inflight map[string]int64
	if o.InFlight != nil {
		inflight = o.InFlight()
	}
	for i := range subs {
		s := &subs[i]
		s.Pending = -1
		if n, ok := pending[s.Name]; ok {
			s.Pending = n
		} else if pending != nil {
			s.Pending = 0
		}
		s.Paused, s.InFlight = paused[s.Name], inflight[s.Name]
		s.Handled, s.Failed, s.DeadLettered = o.Counters.Counts(s.Name)
		if backlog != nil {
			if old, ok := backlog.Oldest[s.Name]; ok {
				s.OldestPendingSeconds = max(0, now.Sub(old.Time).Seconds())
				s.RetentionWarning = backlog.Warning(s.Name, now)
			}
		}
		if s.Patterns == nil {
			s.Patterns = []string{}
		}
	}
	if subs == nil {
		subs = []api.SubscriptionStatus{}
	}
	return subs
}
