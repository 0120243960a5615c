package api

import (
	"encoding/json"
	"time"
)

// ErrorResponse is the body of every error response of the API.
type ErrorResponse struct {
	// Error says what is wrong, in a sentence meant for a person.
	Error string `json:"error"`
	// Field names what the error is about, when it is one thing: a ce-
	// header ("ce-time"), the Content-Type header, an attribute of a
	// structured event ("time"), prefixed by its batch index ("[2].time"),
	// "body", "path", or a query parameter.
	Field string `json:"field,omitempty"`
	// Index is the batch element at fault: the malformed one, or the first
	// one the bus refused.
	Index *int `json:"index,omitempty"`
	// Subscription names the full subscription of a 429, or the
	// subscription an admin request is about.
	Subscription string `json:"subscription,omitempty"`
	// IDs are, for a refusal by the bus, the ids of the events accepted
	// before it (an empty list when there were none). The events from
	// Index on were not accepted.
	IDs []string `json:"ids,omitzero"`
	// Duplicates are indexes into IDs, as in Accepted.
	Duplicates []int `json:"duplicates,omitempty"`
}

// Accepted is the body of a 202 response to an ingest request.
type Accepted struct {
	// IDs are the ids of the events, in the order they were sent, stamped
	// ones included.
	IDs []string `json:"ids"`
	// Duplicates are indexes into IDs of the events that the bus had
	// already accepted within its dedup window (same source and id): they
	// were accepted again but not enqueued again.
	Duplicates []int `json:"duplicates"`
}

// PluginStats are the counters of the pool of a plugin's serving version.
type PluginStats struct {
	Instances      int    `json:"instances"`      // live instances
	Idle           int    `json:"idle"`           // idle instances
	Instantiations uint64 `json:"instantiations"` // instances created
	Discards       uint64 `json:"discards"`       // instances discarded after a failure
	Recycles       uint64 `json:"recycles"`       // instances retired after MaxCalls or MaxAge
	Calls          uint64 `json:"calls"`
	IdleCloses     uint64 `json:"idle_closes"` // instances closed after the idle timeout
	Evictions      uint64 `json:"evictions"`   // times its compiled module was evicted from memory
	Compiled       bool   `json:"compiled"`    // its compiled module is in memory
}

// Kinds of subscription, in SubscriptionStatus and RunSummary.
const (
	KindPlugin  = "plugin"
	KindWebhook = "webhook"
	KindNative  = "native"
)

// PluginInfo describes a plugin as GET /v1/plugins shows it.
type PluginInfo struct {
	Name     string      `json:"name"`
	Path     string      `json:"path"`
	Events   []string    `json:"events"`
	Kind     string      `json:"kind,omitempty"`
	Version  string      `json:"version,omitempty"` // sha256 of the module serving now
	LoadedAt time.Time   `json:"loaded_at,omitzero"`
	Stats    PluginStats `json:"stats"`
	// LastRefusal is the last new version that was refused (the old one
	// kept serving), if any since the current one was loaded.
	LastRefusal *Refusal `json:"last_refusal,omitempty"`
}

// Refusal records a refused reload.
type Refusal struct {
	Time    time.Time `json:"time"`
	Version string    `json:"version,omitempty"`
	Error   string    `json:"error"`
}

// ReleaseInfo describes the release a host in deploy mode runs.
type ReleaseInfo struct {
	// Revision orders releases; 0 means none was deployed yet.
	Revision uint64 `json:"revision"`
	// Time is when the release was published, and Note says why.
	Time time.Time `json:"time,omitzero"`
	Note string    `json:"note,omitempty"`
	// Modules maps each plugin to the SHA-256 of its module.
	Modules map[string]string `json:"modules,omitempty"`
	// LastRefusal is the last release refused since this one was applied.
	LastRefusal *ReleaseRefusal `json:"last_refusal,omitempty"`
}

// ReleaseRefusal records a release that a host refused.
type ReleaseRefusal struct {
	Revision uint64    `json:"revision"`
	Time     time.Time `json:"time"`
	Error    string    `json:"error"`
}

// Limits of GET /v1/admin/dlq's limit parameter.
const (
	DefaultDeadLetterPage = 100
	MaxDeadLetterPage     = 1000
)

// DeadLetterInfo is a dead letter as the admin API shows it.
type DeadLetterInfo struct {
	// ID identifies the dead letter; IDs increase with time.
	ID uint64 `json:"id"`
	// Subscription is the name of the subscription that gave up on the
	// event: a plugin's or a native handler's.
	Subscription string `json:"subscription"`
	// Reason is the Term reason, or that of the last failed attempt.
	Reason string `json:"reason"`
	// Attempts is the number of deliveries made, the last one included.
	Attempts int `json:"attempts"`
	// Terminated is true when the handler rejected the event, false when
	// its attempts ran out.
	Terminated bool `json:"terminated"`
	// Time is when the event was dead-lettered (RFC 3339, nanoseconds).
	Time time.Time `json:"time"`
	// Event is the event in the CloudEvents JSON format (structured mode);
	// event.DecodeJSON decodes it.
	Event json.RawMessage `json:"event"`
}

// DeadLetterPage is the body of GET /v1/admin/dlq.
type DeadLetterPage struct {
	// DeadLetters are the dead letters selected, oldest first.
	DeadLetters []DeadLetterInfo `json:"dead_letters"`
	// NextAfter, when not zero, is the after parameter of the next page:
	// more dead letters match. It is zero on the last page.
	NextAfter uint64 `json:"next_after,omitempty"`
}

// RedriveReport is the body of POST /v1/admin/dlq/retry?subscription=S.
type RedriveReport struct {
	// Subscription is the subscription whose dead letters were redriven.
	Subscription string `json:"subscription"`
	// Redriven counts the dead letters whose events were put back into the
	// subscription's queue (and removed from the dead letters).
	Redriven int `json:"redriven"`
	// NotFound counts the dead letters that could not be redriven because
	// they had gone meanwhile (redriven by another request) or their
	// subscription no longer exists (they are kept).
	NotFound int `json:"not_found"`
	// Remaining counts the dead letters not tried because the request
	// stopped early (the subscription's queue filled up, the bus closed):
	// they are still dead letters; retry later.
	Remaining int `json:"remaining"`
	// Error says why the request stopped early, when it did.
	Error string `json:"error,omitempty"`
}

// Pages of GET /v1/webhooks/{name}/deliveries.
const (
	DefaultDeliveryPage = 100
	MaxDeliveryPage     = 1000
)

// WebhookInfo is a webhook as GET /v1/webhooks shows it.
type WebhookInfo struct {
	Name   string   `json:"name"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// Enabled is the config's enabled key.
	Enabled bool `json:"enabled"`
	// Disabled is true after the endpoint answered 410 Gone, until it is
	// enabled again (POST /v1/admin/webhooks/{name}/enable); its events
	// are dead-lettered meanwhile.
	Disabled       bool      `json:"disabled"`
	DisabledSince  time.Time `json:"disabled_since,omitzero"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	// Source is WebhookFromConfig (a [[webhooks]] entry, read-only over
	// the API) or WebhookFromAPI (created with POST /v1/admin/webhooks).
	Source string `json:"source,omitempty"`
	// Created is when a webhook of the API was created.
	Created time.Time `json:"created,omitzero"`
}

// Sources of a webhook, in WebhookInfo.
const (
	WebhookFromConfig = "config"
	WebhookFromAPI    = "api"
)

// Bounds of the webhooks created over the API (POST /v1/admin/webhooks).
const (
	// MaxRuntimeWebhooks caps the webhooks created over the API, over
	// the whole cluster.
	MaxRuntimeWebhooks = 100
	// MaxNewWebhookBytes caps the body of a creation request.
	MaxNewWebhookBytes = 16 << 10
	// MaxWebhookURLBytes caps a webhook's URL, MaxWebhookEvents its list
	// of event types and patterns, MaxWebhookHeaders its extra headers
	// (each name and value at most MaxWebhookHeaderBytes), and
	// MaxWebhookFilterBytes its filter expression.
	MaxWebhookURLBytes    = 2048
	MaxWebhookEvents      = 32
	MaxWebhookHeaders     = 16
	MaxWebhookHeaderBytes = 1024
	MaxWebhookFilterBytes = 2048
	// MaxWebhookTimeout caps a webhook's timeout.
	MaxWebhookTimeout = 5 * time.Minute
)

// NewWebhook is the body of POST /v1/admin/webhooks: a webhook
// subscription created at runtime, kept by the broker and served by every
// daemon that shares it, with the [defaults] delivery limits.
type NewWebhook struct {
	// Name names the webhook and its subscription (1 to 64 of A-Z a-z
	// 0-9 _ -; not a name of the config's plugins or webhooks).
	Name string `json:"name"`
	// URL is the http or https endpoint.
	URL string `json:"url"`
	// Events are the event types and patterns delivered.
	Events []string `json:"events"`
	// Secret is one or more whsec_ signing secrets separated by spaces;
	// when empty the daemon makes one and returns it once, in the answer.
	// It is never returned again.
	Secret string `json:"secret,omitempty"`
	// Headers are extra request headers (not webhook-* nor those the
	// delivery sets).
	Headers map[string]string `json:"headers,omitempty"`
	// Timeout bounds one request (a Go duration such as "5s"); empty
	// means the [defaults] timeout.
	Timeout string `json:"timeout,omitempty"`
	// Filter is a CEL filter expression over the event, as a webhook
	// table's filter key.
	Filter string `json:"filter,omitempty"`
}

// CreatedWebhook is the body of a 201 answer to POST /v1/admin/webhooks.
type CreatedWebhook struct {
	WebhookInfo
	// Secret is the signing secret the daemon made, when the request gave
	// none: shown this once.
	Secret string `json:"secret,omitempty"`
	// Warning says what the caller should know: on the memory broker the
	// webhook lives in this daemon's process only.
	Warning string `json:"warning,omitempty"`
}

// Delivery is one attempt of a webhook, as GET
// /v1/webhooks/{name}/deliveries shows it.
type Delivery struct {
	// Seq is the run record's position: page with after=Seq.
	Seq       uint64    `json:"seq"`
	EventID   string    `json:"event_id"`
	EventType string    `json:"event_type,omitempty"`
	Attempt   int       `json:"attempt"`
	Start     time.Time `json:"start"`
	LatencyMS float64   `json:"latency_ms"`
	// Outcome is done, retry or reject.
	Outcome string `json:"outcome"`
	// HTTPStatus is the answer's status, zero when there was none.
	HTTPStatus int `json:"http_status,omitempty"`
	// Error says why the attempt failed.
	Error string `json:"error,omitempty"`
}

// DeliveryPage is a page of a webhook's delivery log, oldest first.
type DeliveryPage struct {
	Deliveries []Delivery `json:"deliveries"`
	// NextAfter, when not zero, is the after of the next page.
	NextAfter uint64 `json:"next_after,omitempty"`
}

// Bounds of a trace tree.
const (
	// MaxTraceDepth is the number of generations below the root that a
	// trace follows; deeper events are left out and their parent says
	// "truncated".
	MaxTraceDepth = 32
	// MaxTraceNodes caps the events of one trace tree.
	MaxTraceNodes = 10_000
	// traceDeadLetters caps the dead letters read for one event.
	traceDeadLetters = 100
)

// TraceNode is one event of a trace tree: the event, the runs of every
// subscription that handled it, its dead letters, and the events that its
// successful runs emitted, each a TraceNode in turn.
type TraceNode struct {
	// ID, Type and Source identify the event. Type and Source may be
	// empty for the root when no record carries them.
	ID     string `json:"id"`
	Type   string `json:"type,omitempty"`
	Source string `json:"source,omitempty"`
	// Time is the event's time, when known: from the emit that published
	// it, a run record, or a dead letter's copy of it.
	Time *time.Time `json:"time,omitempty"`
	// EmittedBy is the subscription whose run emitted the event; empty
	// for the root.
	EmittedBy string `json:"emitted_by,omitempty"`
	// DeliverAt is when a delayed event is due (its deliverat extension):
	// its runs start then.
	DeliverAt *time.Time `json:"deliver_at,omitempty"`
	// Runs are the event's runs, one entry per subscription (plugin,
	// native handler or webhook), in the order their first attempt was
	// recorded.
	Runs []TraceRun `json:"runs"`
	// DeadLetters are the event's dead letters, oldest first.
	DeadLetters []TraceDeadLetter `json:"dead_letters,omitempty"`
	// Children are the events emitted by the event's successful runs,
	// each once (a replayed or redelivered run emits the same ids), in
	// the order they were recorded.
	Children []*TraceNode `json:"children"`
	// Truncated says that children were left out: the tree reached
	// MaxTraceDepth or MaxTraceNodes, or a run record was truncated by its
	// store and lost emits.
	Truncated bool `json:"truncated,omitempty"`
}

// TraceRun is the runs of one subscription on one event: every attempt.
type TraceRun struct {
	// Subscription is the name of the plugin, native handler or webhook.
	Subscription string `json:"subscription"`
	// Webhook is true when the subscription is a webhook endpoint: its
	// attempts are HTTP deliveries.
	Webhook bool `json:"webhook,omitempty"`
	// Status is "done" if any attempt (a live delivery or a replay) was
	// done, else the status of the last attempt.
	Status string `json:"status"`
	// Attempts are the attempts in the order they were recorded.
	Attempts []TraceAttempt `json:"attempts"`
}

// TraceAttempt is one run record of a subscription on an event.
type TraceAttempt struct {
	// Kind is runlog.KindDelivery, KindReplay, KindShadow or KindWebhook.
	Kind string `json:"kind"`
	// Attempt is the delivery attempt, from 1.
	Attempt int `json:"attempt"`
	// Status is done, retry or reject; Reason why it failed.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// HTTPStatus is the endpoint's answer to a webhook delivery, when it
	// answered.
	HTTPStatus int `json:"http_status,omitempty"`
	// Plugin and Version are the plugin that ran and the hash of its
	// version (empty for a native handler or a webhook).
	Plugin  string `json:"plugin,omitempty"`
	Version string `json:"version,omitempty"`
	// Start is when the attempt started; DurationNS how long it took, in
	// nanoseconds (as in the run records' JSON).
	Start      time.Time `json:"start"`
	DurationNS int64     `json:"duration_ns"`
	// Emits counts the events the attempt emitted (published only if it
	// was done and not a shadow run).
	Emits int `json:"emits,omitempty"`
}

// TraceDeadLetter is a dead letter of an event in its trace.
type TraceDeadLetter struct {
	ID           uint64    `json:"id"`
	Subscription string    `json:"subscription"`
	Reason       string    `json:"reason"`
	Attempts     int       `json:"attempts"`
	Terminated   bool      `json:"terminated"`
	Time         time.Time `json:"time"`
}

// Bounds of GET /v1/status.
const (
	// StatusRecentRuns is the number of recent runs the status shows.
	StatusRecentRuns = 50
	// StatusLatestDeadLetters is the number of latest dead letters it shows.
	StatusLatestDeadLetters = 5
	// StatusRateWindow is the window over which rates are computed.
	StatusRateWindow = time.Minute
)

// Status is the body of GET /v1/status: what the status page shows.
type Status struct {
	Host          HostStatus           `json:"host"`
	Subscriptions []SubscriptionStatus `json:"subscriptions"`
	Plugins       []PluginStatus       `json:"plugins"`
	Rates         Rates                `json:"rates"`
	// RecentRuns are the last runs recorded (StatusRecentRuns at most),
	// newest first.
	RecentRuns  []RunSummary      `json:"recent_runs"`
	DeadLetters DeadLetterSummary `json:"dead_letters"`
	// Schedules are the [[schedules]] and what this daemon did with them.
	Schedules []ScheduleInfo `json:"schedules,omitempty"`
	// Sources are the [[sources.webhooks]] and [[sources.nats]] entries.
	Sources []SourceStatus `json:"sources"`
	// Wasm counts the compiled modules in memory and what the idle reaper
	// and the compiled_cache budget did.
	Wasm *WasmStats `json:"wasm,omitempty"`
}

// WasmStats are the counters of the daemon's wasm runtime.
type WasmStats struct {
	// CompiledModules and CompiledBytes are the compiled modules in
	// memory and their estimated bytes; CompiledBudget is [host]
	// compiled_cache (0: no bound).
	CompiledModules int   `json:"compiled_modules"`
	CompiledBytes   int64 `json:"compiled_bytes"`
	CompiledBudget  int64 `json:"compiled_budget"`
	// Evictions counts compiled modules freed to fit the budget;
	// Recompiles, evicted modules compiled again for an event.
	Evictions  uint64 `json:"evictions"`
	Recompiles uint64 `json:"recompiles"`
	// IdleCloses counts instances closed after their idle_timeout.
	IdleCloses uint64 `json:"idle_closes"`
	// ReservedBytes is the cleared linear memory that closed instances
	// left for new ones, at most ReserveBudget ([host] memory_reserve; 0
	// keeps none).
	ReservedBytes int64 `json:"reserved_bytes"`
	ReserveBudget int64 `json:"reserve_budget"`
}

// HostStatus describes the daemon.
type HostStatus struct {
	// Version is the version of the evhost module, "(devel)" in a build
	// from a checkout.
	Version string `json:"version"`
	// Started is when the host's HTTP API was made (when the daemon
	// started serving); UptimeSeconds the time since.
	Started       time.Time `json:"started"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	// Broker is the kind of bus: embedded, nats or memory.
	Broker string `json:"broker"`
	// Time is when the status was taken.
	Time time.Time `json:"time"`
}

// SubscriptionStatus is one subscription and its counters since the host
// started.
type SubscriptionStatus struct {
	Name     string   `json:"name"`
	Patterns []string `json:"patterns"`
	// Kind is KindPlugin, KindWebhook or KindNative.
	Kind string `json:"kind"`
	// Running is false for the subscription of a plugin or webhook that
	// is disabled in the config: it keeps its events until it is enabled
	// again or deleted.
	Running bool `json:"running"`
	// Paused is true while the subscription is paused (its events wait).
	Paused bool `json:"paused"`
	// InFlight counts the deliveries this daemon's workers are handling
	// now.
	InFlight int64 `json:"in_flight"`
	// Pending is the bus's estimate of the events the subscription holds
	// unsettled (waiting, in flight or waiting for a retry); -1 when the
	// bus does not tell.
	Pending int64 `json:"pending"`
	// OldestPendingSeconds is the age of the oldest event the
	// subscription holds unsettled, from the broker (0 when it holds none,
	// or the broker does not tell; see Backlog).
	OldestPendingSeconds float64 `json:"oldest_pending_seconds,omitempty"`
	// RetentionWarning, when set, says that the stream's retention is
	// about to drop events the subscription has not handled yet.
	RetentionWarning string `json:"retention_warning,omitempty"`
	// Handled, Failed and DeadLettered count deliveries done, attempts
	// failed (retried or dead-lettered after the last one) and events
	// dead-lettered, as /metrics does.
	Handled      uint64 `json:"handled"`
	Failed       uint64 `json:"failed"`
	DeadLettered uint64 `json:"dead_lettered"`
	// Rate is the subscription's rate limit as configured ("100/s"),
	// shared by the daemons that run it; empty for none.
	Rate string `json:"rate,omitempty"`
	// OrderBy is the key that orders the subscription's events
	// ("subject", "data.customer.id"), hashed into Partitions; empty
	// for none.
	OrderBy    string `json:"order_by,omitempty"`
	Partitions int    `json:"partitions,omitempty"`
}

// PluginStatus is a plugin's version and its last errors.
type PluginStatus struct {
	PluginInfo
	// LastFailure is the last run of the plugin that did not end done
	// (among the runs the status endpoint has read), if any.
	LastFailure *RunSummary `json:"last_failure,omitempty"`
}

// Rates are events per second over the last Window seconds (up to
// StatusRateWindow; zero when the status endpoint has no earlier sample
// yet, and then the rates are zero too).
type Rates struct {
	WindowSeconds float64 `json:"window_seconds"`
	// Ingested counts events accepted from producers (HTTP and the Go
	// API), Published the events published (ingested and emitted).
	Ingested  float64 `json:"ingested"`
	Published float64 `json:"published"`
	// Handled, Failed and DeadLettered are summed over subscriptions.
	Handled      float64 `json:"handled"`
	Failed       float64 `json:"failed"`
	DeadLettered float64 `json:"dead_lettered"`
}

// StatusHistory is the body of GET /v1/status/history: the daemon's
// recent history, one point every IntervalSeconds for up to an hour,
// oldest first, the last point covering the time since the one before it
// (a partial interval, up to now). Each series has one value per point of
// Times.
type StatusHistory struct {
	IntervalSeconds float64 `json:"interval_seconds"`
	// Times are the ends of the points' intervals.
	Times []time.Time `json:"times"`
	// Ingested, Handled and Failed are events per second over each
	// interval: accepted from producers; handled and failed summed over the
	// subscriptions.
	Ingested []float64 `json:"ingested"`
	Handled  []float64 `json:"handled"`
	Failed   []float64 `json:"failed"`
	// Subscriptions are the subscriptions seen during the hour, in the
	// order the daemon lists them.
	Subscriptions []SubscriptionHistory `json:"subscriptions"`
}

// SubscriptionHistory is the history of one subscription. A null value is
// a point with nothing to show: no run in the interval (latency), or the
// subscription did not run then or the bus does not tell (pending).
type SubscriptionHistory struct {
	Name string `json:"name"`
	// Pending is the bus's estimate of the events it held unsettled at the
	// end of each interval.
	Pending []*int64 `json:"pending"`
	// P50 and P99 are the median and 99th percentile of the time to handle
	// one delivery during each interval, in seconds, estimated from the
	// buckets of evhost_handler_duration_seconds.
	P50 []*float64 `json:"p50_seconds"`
	P99 []*float64 `json:"p99_seconds"`
}

// RunSummary is one run record, without its emitted events.
type RunSummary struct {
	Kind         string    `json:"kind"`
	Subscription string    `json:"subscription"`
	Plugin       string    `json:"plugin,omitempty"`
	Version      string    `json:"version,omitempty"`
	EventID      string    `json:"event_id"`
	EventType    string    `json:"event_type,omitempty"`
	Attempt      int       `json:"attempt"`
	Status       string    `json:"status"`
	Reason       string    `json:"reason,omitempty"`
	Start        time.Time `json:"start"`
	DurationNS   int64     `json:"duration_ns"`
	Emits        int       `json:"emits"`
}

// DeadLetterSummary counts dead letters and shows the latest.
type DeadLetterSummary struct {
	// SinceStart counts the events dead-lettered since the host started,
	// over every subscription.
	SinceStart uint64 `json:"since_start"`
	// Latest are the latest dead letters still in the dead-letter queue
	// (StatusLatestDeadLetters at most), newest first.
	Latest []DeadLetterInfo `json:"latest"`
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
	// HTTPStubbed counts the http_request calls of a shadow replay's
	// candidate: none is sent, each gets error -5 (transient); HTTP lists
	// them, up to MaxItems.
	HTTPStubbed int                 `json:"http_stubbed,omitempty"`
	HTTP        []ShadowHTTPRequest `json:"http,omitempty"`
	// Failures lists failed runs and Diffs differences, up to MaxItems.
	Failures []ReplayFailure `json:"failures,omitempty"`
	Diffs    []ShadowDiff    `json:"diffs,omitempty"`
	Took     time.Duration   `json:"took_ns"`
}

// ShadowHTTPRequest is an http_request that a shadow replay's candidate
// made and that was not sent. URL's query string is redacted.
type ShadowHTTPRequest struct {
	Seq     uint64 `json:"seq"`
	EventID string `json:"event_id"`
	Method  string `json:"method"`
	URL     string `json:"url"`
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

// MaxCandidateBytes caps the module a shadow replay request may upload.
const MaxCandidateBytes = 256 << 20
