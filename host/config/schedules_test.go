package config

import (
	"strings"
	"testing"
	"time"
)

func TestSchedules(t *testing.T) {
	c, err := Parse("t.toml", []byte(`
[[schedules]]
name = "nightly"
cron = "30 2 * * *"
timezone = "Europe/Paris"
type = "report.nightly"
data = { kind = "full" }
catch_up = "none"

[[schedules]]
name = "tick"
every = "30s"
type = "clock.tick"
source = "urn:clock"
subject = "s"
data = "hello"

[delayed]
max_delay = "48h"
max_pending = 500
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Schedules) != 2 {
		t.Fatalf("%d schedules", len(c.Schedules))
	}
	n, k := c.Schedules[0], c.Schedules[1]
	if n.Cron != "30 2 * * *" || n.Timezone != "Europe/Paris" || string(n.Data) != `{"kind":"full"}` ||
		n.DataContentType != "application/json" || n.CatchUp != CatchUpNone || !n.Enabled {
		t.Errorf("nightly: %+v", n)
	}
	if k.Every != 30*time.Second || k.Source != "urn:clock" || string(k.Data) != "hello" || k.CatchUp != CatchUpOne {
		t.Errorf("tick: %+v", k)
	}
	if c.Delayed != (Delayed{MaxDelay: 48 * time.Hour, MaxPending: 500}) {
		t.Errorf("delayed: %+v", c.Delayed)
	}
}

func TestSchedulesInvalid(t *testing.T) {
	const base = "[[schedules]]\nname = \"s\"\ntype = \"a.b\"\n"
	for _, tc := range []struct{ name, toml, want string }{
		{"no timetable", base, `t.toml:1:3: schedules[0].cron: missing: give cron`},
		{"both", base + "cron = \"@hourly\"\nevery = \"1m\"", `t.toml:5:9: schedules[0].every: give cron or every, not both`},
		{"bad cron", base + "cron = \"61 * * * *\"", `t.toml:4:8: schedules[0].cron: invalid cron "61 * * * *"`},
		{"six fields", base + "cron = \"0 0 * * * *\"", `t.toml:4:8: schedules[0].cron: invalid cron`},
		{"cron every", base + "cron = \"@every 1m\"", `t.toml:4:8: schedules[0].cron: cron "@every 1m": use the keys every and timezone instead`},
		{"short every", base + "every = \"100ms\"", `t.toml:4:9: schedules[0].every: every 100ms is too short`},
		{"bad zone", base + "cron = \"@daily\"\ntimezone = \"Mars/Olympus\"", `t.toml:5:12: schedules[0].timezone: unknown time zone "Mars/Olympus"`},
		{"zone with every", base + "every = \"1m\"\ntimezone = \"UTC\"", `t.toml:5:12: schedules[0].timezone: timezone applies to cron only`},
		{"catch_up", base + "every = \"1m\"\ncatch_up = \"all\"", `t.toml:5:12: schedules[0].catch_up: invalid catch_up "all"`},
		{"no type", "[[schedules]]\nname = \"s\"\nevery = \"1m\"", `schedules[0].type: missing`},
		{"bad type", "[[schedules]]\nname = \"s\"\nevery = \"1m\"\ntype = \"a..b\"", `t.toml:4:8: schedules[0].type: invalid event type`},
		{"dup", base + "every = \"1m\"\n" + base + "every = \"1m\"", `schedules[1].name: name "s" is already used by schedules[0]`},
		{"unknown key", base + "every = \"1m\"\nevry = 1", `t.toml:5:1: schedules[0].evry: unknown key`},
		{"data type", base + "every = \"1m\"\ndata = 3", `schedules[0].data: expected a string or a table`},
		{"max_delay past max_age", "[broker]\nmax_age = \"24h\"\n[delayed]\nmax_delay = \"48h\"", `t.toml:4:13: delayed.max_delay: max_delay 48h0m0s is longer than [broker] max_age 24h0m0s`},
		{"max_pending", "[delayed]\nmax_pending = -1", `t.toml:2:15: delayed.max_pending: invalid max_pending -1: negative`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tc.toml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}
