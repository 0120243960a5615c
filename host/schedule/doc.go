// Package schedule runs the daemon's [[schedules]]: for each schedule, a
// goroutine that waits for the next tick of its timetable (a cron
// expression or a fixed interval) and publishes one event for it. It keeps
// the schedules across config reloads (an unchanged schedule keeps its
// goroutine and counters), counts what each tick did, and offers GET
// /v1/schedules and the evhost_schedule_* metrics.
//
// Several daemons run the same schedules; the event of a tick has an id
// derived from the schedule's name and the tick's time, so the broker's
// deduplication keeps one copy however many publish it. The latest tick
// published is kept in a State (on the NATS brokers, a KV bucket), so a
// daemon that starts after every daemon was down knows which ticks were
// missed: it publishes the latest of them once (catch-up "one") or skips
// them ("none").
//
// It imports host/api, host/bus, host/event, host/httpapi, host/kv and the
// Prometheus client; it must not import host/config: the daemon maps each
// entry to a Spec.
package schedule
