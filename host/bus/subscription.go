package bus

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/evhost/evhost/host/event"
)

// Backoff is a retry schedule: the delay before the redelivery that follows
// a failed attempt grows exponentially, doubling from Initial up to Max,
// and is shortened by up to the fraction Jitter, at random, so that events
// that failed together are not retried together.
type Backoff struct {
	// Initial is the delay after the first failed attempt. Zero means
	// DefaultBackoffInitial.
	Initial time.Duration
	// Max caps the delay. Zero means DefaultBackoffMax, or Initial if that
	// is larger.
	Max time.Duration
	// Jitter is the fraction of the delay, in [0, 1], that is randomised:
	// a delay d becomes a uniform pick in [d*(1-Jitter), d]. Zero means no
	// jitter.
	Jitter float64
}

// Defaults of a Backoff's zero fields.
const (
	DefaultBackoffInitial = 100 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
)

// Delay returns the delay before the redelivery that follows the failed
// attempt-th attempt (1 for the first): Initial * 2^(attempt-1), at most
// Max, less the jitter.
func (b Backoff) Delay(attempt int) time.Duration {
	initial, limit := b.Initial, b.Max
	if initial <= 0 {
		initial = DefaultBackoffInitial
	}
	if limit <= 0 {
		limit = max(DefaultBackoffMax, initial)
	}
	d := initial
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	if b.Jitter > 0 {
		d -= time.Duration(rand.Float64() * min(b.Jitter, 1) * float64(d))
	}
	return d
}

// Validate reports the first problem of s, wrapping ErrInvalidSubscription.
func (s *Subscription) Validate() error {
	_, err := s.CompilePatterns()
	return err
}

// CompilePatterns validates s, as Validate does, and returns its patterns
// compiled, in order.
func (s *Subscription) CompilePatterns() ([]event.Pattern, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: "+format, append([]any{ErrInvalidSubscription, s.Name}, args...)...)
	}
	if !ValidName(s.Name) {
		return nil, bad("name must be 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'")
	}
	if len(s.Patterns) == 0 {
		return nil, bad("no patterns: it would receive nothing")
	}
	switch {
	case s.Queue < 0:
		return nil, bad("negative queue %d", s.Queue)
	case s.MaxAttempts < 0:
		return nil, bad("negative max attempts %d", s.MaxAttempts)
	case s.AckWait < 0:
		return nil, bad("negative ack wait %v", s.AckWait)
	case s.Backoff.Initial < 0 || s.Backoff.Max < 0:
		return nil, bad("negative backoff")
	case s.Backoff.Max > 0 && s.Backoff.Max < s.Backoff.Initial:
		return nil, bad("backoff max %v is less than its initial delay %v", s.Backoff.Max, s.Backoff.Initial)
	case !(s.Backoff.Jitter >= 0 && s.Backoff.Jitter <= 1):
		return nil, bad("backoff jitter %v is not in [0, 1]", s.Backoff.Jitter)
	case s.Partitions < 0 || s.Partitions > MaxPartitions:
		return nil, bad("partitions %d is not in [0, %d]", s.Partitions, MaxPartitions)
	case s.Partitions > 0 && (s.OrderKey == nil || s.OrderBy == ""):
		return nil, bad("partitions without an order key (OrderBy and OrderKey)")
	}
	ps := make([]event.Pattern, len(s.Patterns))
	for i, p := range s.Patterns {
		var err error
		if ps[i], err = event.ParsePattern(p); err != nil {
			return nil, bad("%w", err)
		}
	}
	return ps, nil
}

// WithDefaults returns s with DefaultMaxAttempts and DefaultAckWait in
// place of zero MaxAttempts and AckWait. Queue is left to the bus.
func (s Subscription) WithDefaults() Subscription {
	if s.MaxAttempts == 0 {
		s.MaxAttempts = DefaultMaxAttempts
	}
	if s.AckWait == 0 {
		s.AckWait = DefaultAckWait
	}
	return s
}

// ValidName reports whether name can name a subscription: 1 to 64
// characters of A-Z, a-z, 0-9, '_' and '-' (what a NATS durable consumer
// name and a file name allow everywhere).
func ValidName(name string) bool {
	if len(name) < 1 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
