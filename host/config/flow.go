package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/evhost/evhost/host/orderkey"
)

// Flow orders and paces the subscription of a plugin or a webhook: the
// keys order_by, partitions, rate and burst of its table.
type Flow struct {
	// OrderBy orders the subscription's events per key (key order_by):
	// "subject", "source", "type", an extension attribute's name, or a path
	// into the JSON data such as "data.customer.id" (see package
	// orderkey). Events with the same key are handled one at a time, in
	// the order accepted, by every daemon sharing the subscription
	// together; a failed attempt keeps the key's later events waiting
	// until it succeeds or is dead-lettered. Events with other keys run
	// concurrently, up to Partitions at once (and Concurrency per
	// daemon). Empty: no order per key.
	OrderBy string
	// Partitions is the number of partitions the keys are hashed into
	// (key partitions, default 16 with order_by, at most 256): the most
	// events of the subscription handled at once across all daemons. Two
	// keys of one partition wait for each other. order_by and partitions
	// of an existing subscription cannot change: delete it first
	// (`evhost subscriptions delete NAME --yes`).
	Partitions int
	// Rate caps the handler starts of the subscription, across all the
	// daemons sharing it (key rate: "100/s", "6000/m" or "10/h"); events
	// past it wait, none fails for it. The zero Rate is no limit.
	Rate Rate
	// Burst is how many starts may go at once above the steady rate after
	// a quiet time (key burst, default 1, needs rate).
	Burst int
}

// DefaultPartitions is the partitions of a subscription with order_by
// and no partitions key.
const DefaultPartitions = 16

// MaxPartitions caps the partitions key (bus.MaxPartitions).
const MaxPartitions = 256

// MaxRate caps the count of a rate and a burst.
const MaxRate = 1_000_000

// Rate is a number of handler starts per unit of time.
type Rate struct {
	Count int
	Per   time.Duration // time.Second, time.Minute or time.Hour
}

// IsZero reports whether r sets no limit.
func (r Rate) IsZero() bool { return r.Count == 0 }

// PerSecond returns r in starts per second.
func (r Rate) PerSecond() float64 {
	if r.Per <= 0 {
		return 0
	}
	return float64(r.Count) / r.Per.Seconds()
}

// String returns r as written: "100/s"; "" for the zero Rate.
func (r Rate) String() string {
	if r.IsZero() {
		return ""
	}
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	return strconv.Itoa(r.Count) + "/" + unit
}

// ParseRate parses "N/s", "N/m" or "N/h", N from 1 to MaxRate.
func ParseRate(s string) (Rate, error) {
	n, unit, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, errors.New(`want a count per unit: "100/s", "6000/m" or "10/h"`)
	}
	per, ok := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	if !ok {
		return Rate{}, fmt.Errorf("unit %q: want s, m or h", unit)
	}
	c, err := strconv.Atoi(n)
	if err != nil || c < 1 || c > MaxRate {
		return Rate{}, fmt.Errorf("count %q: want a whole number from 1 to %d", n, MaxRate)
	}
	return Rate{Count: c, Per: per}, nil
}

// flow decodes the keys of a Flow.
func (d *decoder) flow(t *table, f *Flow) {
	t.str("order_by", &f.OrderBy)
	t.integer("partitions", &f.Partitions)
	if v, path, ok := t.lookup("rate"); ok {
		s, isStr := v.(string)
		if !isStr {
			t.typeErr(path, `a rate string such as "100/s" or "6000/m"`, v, true)
		} else if r, err := ParseRate(s); err != nil {
			d.fail(path, false, wrapProblem(ErrInvalid, err, "invalid rate %q", s))
		} else {
			f.Rate = r
		}
	}
	t.integer("burst", &f.Burst)
}

// PartitionCount returns the partitions of an ordered subscription (0
// without order_by): Partitions, or DefaultPartitions when zero.
func (f *Flow) PartitionCount() int {
	switch {
	case f.OrderBy == "":
		return 0
	case f.Partitions == 0:
		return DefaultPartitions
	}
	return f.Partitions
}

// BurstSize returns Burst, or 1 when zero.
func (f *Flow) BurstSize() int { return max(f.Burst, 1) }

// flow checks the keys of a Flow in the table at path.
func (v *checker) flow(path string, f *Flow) {
	if f.OrderBy != "" {
		if _, err := orderkey.Compile(f.OrderBy); err != nil {
			v.invalid(keyPath(path, "order_by"), "invalid order_by %q: %v", f.OrderBy, err)
		}
	}
	switch {
	case f.OrderBy == "" && f.Partitions != 0:
		v.invalid(keyPath(path, "partitions"), "partitions without order_by: set order_by to the key that orders the events")
	case f.Partitions < 0 || f.Partitions > MaxPartitions:
		v.invalid(keyPath(path, "partitions"), "invalid partitions %d: want 1 to %d", f.Partitions, MaxPartitions)
	}
	switch {
	case f.Rate.IsZero() && f.Burst != 0:
		v.invalid(keyPath(path, "burst"), "burst without rate: set rate too")
	case f.Burst < 0 || f.Burst > MaxRate:
		v.invalid(keyPath(path, "burst"), "invalid burst %d: want 1 to %d", f.Burst, MaxRate)
	}
}
