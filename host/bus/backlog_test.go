package bus_test

import (
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
)

// Warning speaks when a subscription's oldest pending event is past 80%
// of the max age, or among the next to go from a journal near a size
// limit that discards old events; not otherwise.
func TestBacklogWarning(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration, seq uint64) map[string]bus.OldestPending {
		return map[string]bus.OldestPending{"s": {Seq: seq, Time: now.Add(-ago)}}
	}
	for _, c := range []struct {
		name string
		b    *bus.Backlog
		want string
	}{
		{"nothing pending", &bus.Backlog{Journal: bus.Retention{MaxAge: time.Hour}}, ""},
		{"young", &bus.Backlog{Oldest: at(47*time.Minute, 1), Journal: bus.Retention{MaxAge: time.Hour}}, ""},
		{"old", &bus.Backlog{Oldest: at(49*time.Minute, 1), Journal: bus.Retention{MaxAge: time.Hour}}, "[broker] max_age"},
		{"no max age", &bus.Backlog{Oldest: at(1000*time.Hour, 1)}, ""},
		{"full, at the front", &bus.Backlog{Oldest: at(time.Minute, 105), Journal: bus.Retention{
			MaxBytes: 1000, Bytes: 900, DiscardOld: true, FirstSeq: 100, LastSeq: 199}}, "max_bytes"},
		{"full, at the back", &bus.Backlog{Oldest: at(time.Minute, 150), Journal: bus.Retention{
			MaxBytes: 1000, Bytes: 900, DiscardOld: true, FirstSeq: 100, LastSeq: 199}}, ""},
		{"full of messages", &bus.Backlog{Oldest: at(time.Minute, 100), Journal: bus.Retention{
			MaxMsgs: 100, Msgs: 100, DiscardOld: true, FirstSeq: 100, LastSeq: 199}}, "100 of its 100 events"},
		{"full, discard new", &bus.Backlog{Oldest: at(time.Minute, 100), Journal: bus.Retention{
			MaxBytes: 1000, Bytes: 1000, FirstSeq: 100, LastSeq: 199}}, ""},
		{"half full", &bus.Backlog{Oldest: at(time.Minute, 100), Journal: bus.Retention{
			MaxBytes: 1000, Bytes: 500, DiscardOld: true, FirstSeq: 100, LastSeq: 199}}, ""},
	} {
		got := c.b.Warning("s", now)
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	var none *bus.Backlog
	if none.Warning("s", now) != "" {
		t.Error("a nil report warns")
	}
}
