package config

import (
	"encoding/json"
	"strings"
	"time"
	_ "time/tzdata" // schedules' time zones, on systems without a zoneinfo database

	"github.com/robfig/cron/v3"

	"github.com/evhost/evhost/host/event"
)

// Schedule is one [[schedules]] entry: an event published on a timetable.
// Each tick publishes one event whose id derives from the schedule's name
// and the tick's time, so that the broker's deduplication keeps one when
// several daemons run the schedule.
type Schedule struct {
	// Name identifies the schedule (key name, required): 1 to 64 of A-Z,
	// a-z, 0-9, '_' and '-', unique among schedules.
	Name string
	// Cron is a five-field cron expression (minute hour day-of-month month
	// day-of-week) or one of @yearly, @annually, @monthly, @weekly, @daily,
	// @midnight, @hourly (key cron). Exactly one of Cron and Every.
	Cron string
	// Every publishes at every multiple of this interval since the Unix
	// epoch (key every, at least 1s): "30s" ticks at :00 and :30.
	Every time.Duration
	// Timezone is the IANA time zone of Cron (key timezone, default UTC).
	Timezone string
	// Type, Source and Subject are the event's (keys type, required;
	// source, default "evhost://schedule/<name>"; subject).
	Type, Source, Subject string
	// Data is the event's data (key data): a string as is, or a table
	// encoded as JSON (then DataContentType defaults to application/json).
	Data []byte
	// DataContentType is the event's datacontenttype (key
	// datacontenttype).
	DataContentType string
	// CatchUp says what a daemon that starts after ticks were missed (every
	// daemon was down) does (key catch_up): CatchUpOne (the default)
	// publishes the latest missed tick once, CatchUpNone skips them.
	CatchUp string
	// Enabled runs the schedule (key enabled, default true).
	Enabled bool
}

// Values of Schedule.CatchUp.
const (
	CatchUpOne  = "one"
	CatchUpNone = "none"
)

// Delayed is the [delayed] table: the bounds of delayed events (events with
// a deliverat or delay extension, held by the broker until their time).
// Changing it needs a restart.
type Delayed struct {
	// MaxDelay is how far ahead an event may be due (key max_delay);
	// zero means 30 days, and never more than [broker] max_age, past
	// which the broker's stream would drop it.
	MaxDelay time.Duration
	// MaxPending caps the delayed events the broker holds (key
	// max_pending); zero means 100000. Past it, delayed events are
	// refused with backpressure (429).
	MaxPending int
}

// CronParser parses a Schedule's Cron: five fields, or a @descriptor.
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// schedules decodes the [[schedules]] entries.
func (d *decoder) schedules(c *Config, root *table) {
	d.tables(root, "schedules", "[[schedules]]", func(t *table) {
		s := Schedule{CatchUp: CatchUpOne, Enabled: true}
		t.str("name", &s.Name)
		t.str("cron", &s.Cron)
		t.duration("every", &s.Every)
		t.str("timezone", &s.Timezone)
		t.str("type", &s.Type)
		t.str("source", &s.Source)
		t.str("subject", &s.Subject)
		t.str("datacontenttype", &s.DataContentType)
		t.str("catch_up", &s.CatchUp)
		t.boolean("enabled", &s.Enabled)
		if v, path, ok := t.lookup("data"); ok {
			switch v := v.(type) {
			case string:
				s.Data = []byte(v)
			case map[string]any:
				s.Data, _ = json.Marshal(v)
				if s.DataContentType == "" {
					s.DataContentType = "application/json"
				}
			default:
				t.typeErr(path, "a string or a table", v, true)
			}
		}
		t.done()
		c.Schedules = append(c.Schedules, s)
	})
	if t := root.sub("delayed"); t != nil {
		t.duration("max_delay", &c.Delayed.MaxDelay)
		t.integer("max_pending", &c.Delayed.MaxPending)
		t.done()
	}
}

// Location returns the time zone of s's Cron: UTC when Timezone is empty.
func (s *Schedule) Location() (*time.Location, error) {
	if s.Timezone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(s.Timezone)
}

// schedules checks the [[schedules]] entries and [delayed].
func (v *checker) schedules(c *Config) {
	names := map[string]string{}
	for i := range c.Schedules {
		s := &c.Schedules[i]
		path := indexPath("schedules", i)
		switch first, dup := names[s.Name]; {
		case s.Name == "":
			v.missing(keyPath(path, "name"), "missing: every schedule needs a name")
		case !validName(s.Name):
			v.invalid(keyPath(path, "name"), "invalid schedule name %q: use 1 to 64 of A-Z, a-z, 0-9, '_' and '-'", s.Name)
		case dup:
			v.invalid(keyPath(path, "name"), "name %q is already used by %s", s.Name, first)
		default:
			names[s.Name] = path
		}
		switch {
		case s.Cron == "" && s.Every == 0:
			v.missing(keyPath(path, "cron"), "missing: give cron (five fields or @hourly-style) or every")
		case s.Cron != "" && s.Every != 0:
			v.add(keyPath(path, "every"), &problem{kind: ErrInvalid, msg: "give cron or every, not both", alt: keyPath(path, "cron")})
		case s.Every != 0 && s.Every < time.Second:
			v.invalid(keyPath(path, "every"), "every %v is too short: at least 1s", s.Every)
		case s.Every != 0 && s.Every%time.Second != 0:
			v.invalid(keyPath(path, "every"), "every %v is not a whole number of seconds", s.Every)
		case s.Cron != "":
			if strings.HasPrefix(s.Cron, "@every") || strings.HasPrefix(s.Cron, "TZ=") || strings.HasPrefix(s.Cron, "CRON_TZ=") {
				v.invalid(keyPath(path, "cron"), "cron %q: use the keys every and timezone instead", s.Cron)
			} else if _, err := CronParser.Parse(s.Cron); err != nil {
				v.invalid(keyPath(path, "cron"), "invalid cron %q: %v (want five fields: minute hour day-of-month month day-of-week, or @hourly, @daily, ...)", s.Cron, err)
			}
		}
		if s.Timezone != "" {
			if s.Every != 0 {
				v.invalid(keyPath(path, "timezone"), "timezone applies to cron only: every counts from the Unix epoch")
			} else if _, err := s.Location(); err != nil {
				v.invalid(keyPath(path, "timezone"), "unknown time zone %q (want an IANA name such as \"Europe/Paris\")", s.Timezone)
			}
		}
		if s.Type == "" {
			v.missing(keyPath(path, "type"), "missing: the type of the events the schedule publishes")
		} else if err := event.ValidType(s.Type); err != nil {
			v.invalid(keyPath(path, "type"), "invalid event type %q: %v", s.Type, err)
		}
		if s.CatchUp != CatchUpOne && s.CatchUp != CatchUpNone {
			v.invalid(keyPath(path, "catch_up"), "invalid catch_up %q (want %q or %q)", s.CatchUp, CatchUpOne, CatchUpNone)
		}
	}
	d := c.Delayed
	switch {
	case d.MaxDelay < 0:
		v.invalid("delayed.max_delay", "invalid max_delay %v: negative", d.MaxDelay)
	case d.MaxDelay > 0 && c.Broker.MaxAge > 0 && d.MaxDelay > c.Broker.MaxAge && c.Broker.Kind != BrokerMemory:
		v.invalid("delayed.max_delay", "max_delay %v is longer than [broker] max_age %v, which would drop a delayed event before its time", d.MaxDelay, c.Broker.MaxAge)
	}
	if d.MaxPending < 0 {
		v.invalid("delayed.max_pending", "invalid max_pending %d: negative", d.MaxPending)
	}
}
