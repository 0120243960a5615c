package natsbus

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// A JetStream consumer selects the messages it delivers with filter
// subjects, evaluated when it delivers, not when a message is stored; and
// its filters may not overlap. A subscription's patterns are evaluated
// when an event is published, may overlap, and may change while events
// are queued. filters bridges the two:
//
//   - patterns that another pattern contains are dropped (order.placed
//     beside order.*);
//   - patterns that overlap without one containing the other (order.* and
//     *.placed) are replaced by one that contains both (*.*), and the
//     consumer checks each message against the real patterns;
//   - when Subscribe changes the patterns of a subscription that holds
//     events, the old patterns stay in the filter as an era, up to the
//     last stream sequence published before the change: a message up to
//     that sequence is judged by the old patterns, a later one by the new.
//     An era is dropped once the consumer's ack floor has passed it.
//
// See RATIONALE.md, "Why eras?".

// era is a set of patterns that selected the events published up to
// stream sequence Until.
type era struct {
	Until    uint64   `json:"until"`
	Patterns []string `json:"patterns"`

	compiled []event.Pattern
}

// Keys of a consumer's metadata, where the subscription's settings live so
// that every process sharing the subscription sees them.
const (
	mdPatterns    = "evhost.patterns"
	mdEras        = "evhost.eras"
	mdQueue       = "evhost.queue"
	mdMaxAttempts = "evhost.max_attempts"
	mdBackoff     = "evhost.backoff"
	mdPartitions  = "evhost.partitions"
	mdOrderBy     = "evhost.order_by"
	// mdPartitionOf marks the consumer of a partition (other than the
	// first) of a partitioned subscription: the subscription's name.
	mdPartitionOf = "evhost.partition_of"
)

// subConfig is a subscription's settings, as Subscribe set them last.
type subConfig struct {
	raw         []string
	patterns    []event.Pattern
	eras        []era
	queue       int
	maxAttempts int
	ackWait     time.Duration
	backoff     bus.Backoff
	// partitions and orderBy partition the subscription (see
	// bus.Subscription); key is the order key, known to the processes
	// that subscribed (nil in a configuration read from the server).
	partitions int
	orderBy    string
	key        func(*event.Event) string
	// checked means that the consumer's filter is wider than the
	// patterns: each message is checked against them (and the eras).
	checked bool
}

// selects reports whether the message of stream sequence seq on subject
// subj belongs to the subscription. Redriven messages always do.
func (c *subConfig) selects(b *Bus, subj string, seq uint64) bool {
	if !c.checked || strings.HasPrefix(subj, b.redrivePrefix) {
		return true
	}
	typ, ok := strings.CutPrefix(subj, b.eventsPrefix)
	if !ok {
		return false
	}
	for i := range c.eras {
		if seq <= c.eras[i].Until {
			return event.MatchAny(c.eras[i].compiled, typ)
		}
	}
	return event.MatchAny(c.patterns, typ)
}

// newSubConfig compiles the settings of sub (with defaults applied) and
// eras.
func newSubConfig(sub bus.Subscription, patterns []event.Pattern, eras []era, queue int) (*subConfig, error) {
	c := &subConfig{
		raw:         slices.Clone(sub.Patterns),
		patterns:    patterns,
		eras:        eras,
		queue:       queue,
		maxAttempts: sub.MaxAttempts,
		ackWait:     sub.AckWait,
		backoff:     sub.Backoff,
		partitions:  sub.Partitions,
		orderBy:     sub.OrderBy,
		key:         sub.OrderKey,
	}
	for i := range c.eras {
		if c.eras[i].compiled == nil {
			for _, p := range c.eras[i].Patterns {
				cp, err := event.ParsePattern(p)
				if err != nil {
					return nil, err
				}
				c.eras[i].compiled = append(c.eras[i].compiled, cp)
			}
		}
	}
	_, exact := filters("", c.all())
	c.checked = !exact || len(c.eras) > 0
	return c, nil
}

// all returns every pattern of the current settings and the eras.
func (c *subConfig) all() []string {
	all := slices.Clone(c.raw)
	for _, e := range c.eras {
		all = append(all, e.Patterns...)
	}
	return all
}

// metadata returns the consumer metadata of c.
func (c *subConfig) metadata() map[string]string {
	md := map[string]string{
		mdPatterns:    mustJSON(c.raw),
		mdQueue:       strconv.Itoa(c.queue),
		mdMaxAttempts: strconv.Itoa(c.maxAttempts),
		mdBackoff:     mustJSON(backoffJSON{c.backoff.Initial, c.backoff.Max, c.backoff.Jitter}),
	}
	if len(c.eras) > 0 {
		md[mdEras] = mustJSON(c.eras)
	}
	if c.partitions > 0 {
		md[mdPartitions] = strconv.Itoa(c.partitions)
		md[mdOrderBy] = c.orderBy
	}
	return md
}

// partition returns the partition of e, or -1 when c is not partitioned
// or does not know the key here.
func (c *subConfig) partition(e *event.Event) int {
	if c.partitions <= 0 || c.key == nil {
		return -1
	}
	return bus.Partition(c.key(e), c.partitions)
}

type backoffJSON struct {
	Initial time.Duration `json:"initial"`
	Max     time.Duration `json:"max"`
	Jitter  float64       `json:"jitter"`
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// configFromMetadata rebuilds the settings that a consumer's metadata and
// ack wait record, or reports false for a consumer that is not an evhost
// subscription.
func configFromMetadata(name string, md map[string]string, ackWait time.Duration) (*subConfig, bool) {
	if md[mdPatterns] == "" || md[mdQueue] == "" {
		return nil, false
	}
	sub := bus.Subscription{Name: name, AckWait: ackWait}
	var eras []era
	var bo backoffJSON
	var err error
	if err = json.Unmarshal([]byte(md[mdPatterns]), &sub.Patterns); err != nil {
		return nil, false
	}
	if s := md[mdEras]; s != "" {
		if err = json.Unmarshal([]byte(s), &eras); err != nil {
			return nil, false
		}
	}
	if s := md[mdBackoff]; s != "" {
		if err = json.Unmarshal([]byte(s), &bo); err != nil {
			return nil, false
		}
	}
	sub.Backoff = bus.Backoff{Initial: bo.Initial, Max: bo.Max, Jitter: bo.Jitter}
	if sub.Queue, err = strconv.Atoi(md[mdQueue]); err != nil {
		return nil, false
	}
	if sub.MaxAttempts, err = strconv.Atoi(md[mdMaxAttempts]); err != nil {
		return nil, false
	}
	if s := md[mdPartitions]; s != "" {
		if sub.Partitions, err = strconv.Atoi(s); err != nil || sub.Partitions <= 0 || sub.Partitions > bus.MaxPartitions {
			return nil, false
		}
		sub.OrderBy = md[mdOrderBy]
	}
	plain := sub // the order key is not known here: validate the rest
	plain.Partitions = 0
	ps, err := plain.CompilePatterns()
	if err != nil {
		return nil, false
	}
	c, err := newSubConfig(sub.WithDefaults(), ps, eras, sub.Queue)
	if err != nil {
		return nil, false
	}
	return c, true
}

// filters returns the filter subjects, under prefix, that select every
// type that patterns select, none overlapping another, and whether they
// select exactly those types.
func filters(prefix string, patterns []string) (subjects []string, exact bool) {
	toks := make([][]string, 0, len(patterns))
	for _, p := range patterns {
		toks = append(toks, strings.Split(p, "."))
	}
	exact = true
	for changed := true; changed; {
		changed = false
		// Drop duplicates and contained patterns.
		for i := 0; i < len(toks); i++ {
			for j := 0; j < len(toks); j++ {
				if i != j && contains(toks[i], toks[j]) {
					toks = slices.Delete(toks, j, j+1)
					if j < i {
						i--
					}
					j--
					changed = true
				}
			}
		}
		// Widen the first pair that overlaps.
	widen:
		for i := 0; i < len(toks); i++ {
			for j := i + 1; j < len(toks); j++ {
				if overlap(toks[i], toks[j]) {
					toks[i] = widen(toks[i], toks[j])
					toks = slices.Delete(toks, j, j+1)
					exact, changed = false, true
					break widen
				}
			}
		}
	}
	for _, t := range toks {
		subjects = append(subjects, prefix+strings.Join(t, "."))
	}
	slices.Sort(subjects)
	return subjects, exact
}

// contains reports whether every subject that b matches, a matches.
func contains(a, b []string) bool {
	for i, t := range a {
		if t == ">" {
			return len(b) > i
		}
		if i >= len(b) || b[i] == ">" || t != "*" && t != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// overlap reports whether a subject matches both a and b.
func overlap(a, b []string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == ">" || b[i] == ">" {
			return true
		}
		if a[i] != b[i] && a[i] != "*" && b[i] != "*" {
			return false
		}
	}
	return len(a) == len(b)
}

// widen returns a pattern that contains both a and b, which overlap.
func widen(a, b []string) []string {
	var w []string
	for i := 0; i < len(a) && i < len(b); i++ {
		switch {
		case a[i] == ">" || b[i] == ">":
			return append(w, ">")
		case a[i] == b[i]:
			w = append(w, a[i])
		default:
			w = append(w, "*")
		}
	}
	if len(a) != len(b) {
		// Overlapping patterns of different lengths meet at a '>',
		// which returned above; keep this total anyway.
		return append(w, ">")
	}
	return w
}
