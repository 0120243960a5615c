package api

import "time"

// ScheduleInfo is one [[schedules]] entry and what this daemon did with it
// since it started: GET /v1/schedules, `evhost schedules list`, and the
// schedules of GET /v1/status.
type ScheduleInfo struct {
	Name string `json:"name"`
	// Cron or Every is the timetable (Every as a Go duration); Timezone
	// that of Cron.
	Cron     string `json:"cron,omitempty"`
	Every    string `json:"every,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	// Type is the type of the events it publishes; CatchUp "one" or
	// "none".
	Type    string `json:"type"`
	CatchUp string `json:"catch_up"`
	// Enabled is false for a schedule the config disables.
	Enabled bool `json:"enabled"`
	// Next is the next tick; Last the latest tick published (by this
	// daemon or, as its broker reported, another one).
	Next *time.Time `json:"next,omitempty"`
	Last *time.Time `json:"last,omitempty"`
	// Produced counts the ticks this daemon published; Duplicates those
	// another daemon had published first (the broker kept one); Errors
	// the ticks whose publish failed.
	Produced   uint64 `json:"produced"`
	Duplicates uint64 `json:"duplicates"`
	Errors     uint64 `json:"errors"`
	// LastError is the error of the latest failure, and LastErrorTime
	// when it happened.
	LastError     string     `json:"last_error,omitempty"`
	LastErrorTime *time.Time `json:"last_error_time,omitempty"`
}

// ScheduleList is the body of GET /v1/schedules.
type ScheduleList struct {
	Schedules []ScheduleInfo `json:"schedules"`
}
