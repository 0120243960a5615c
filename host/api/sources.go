package api

import "time"

// Kinds of source, in SourceStatus.
const (
	SourceWebhook = "webhook"
	SourceNATS    = "nats"
)

// SourceStatus is one [[sources.webhooks]] or [[sources.nats]] entry and
// its counters since the host started, in GET /v1/status.
type SourceStatus struct {
	Name string `json:"name"`
	// Kind is SourceWebhook or SourceNATS.
	Kind string `json:"kind"`
	// Where is the path a webhook source is served on
	// (/v1/hooks/...), or the subject a NATS source reads (with its
	// stream: "ORDERS: orders.>").
	Where   string `json:"where"`
	Enabled bool   `json:"enabled"`
	// Running is true for a webhook source that is enabled, and for a NATS
	// source while it is connected and subscribed.
	Running bool `json:"running"`
	// Produced counts the events published, Duplicates those the broker
	// had already (a redelivery), Refused the requests or messages
	// refused, by reason (signature, timestamp, too_large, invalid,
	// not_ready, bus, dropped).
	Produced   uint64            `json:"produced"`
	Duplicates uint64            `json:"duplicates"`
	Refused    map[string]uint64 `json:"refused"`
	// LastError says what went wrong last, and when.
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	// LastEventTime is when the source last produced an event.
	LastEventTime time.Time `json:"last_event_time,omitzero"`
}
