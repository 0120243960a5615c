package bus_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

func TestBackoffDelay(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		b       bus.Backoff
		attempt int
		want    time.Duration
	}{
		{bus.Backoff{}, 1, bus.DefaultBackoffInitial},
		{bus.Backoff{}, 2, 2 * bus.DefaultBackoffInitial},
		{bus.Backoff{}, 100, bus.DefaultBackoffMax},
		{bus.Backoff{Initial: 10 * ms, Max: 50 * ms}, 0, 10 * ms},
		{bus.Backoff{Initial: 10 * ms, Max: 50 * ms}, 3, 40 * ms},
		{bus.Backoff{Initial: 10 * ms, Max: 50 * ms}, 4, 50 * ms},
		{bus.Backoff{Initial: time.Minute}, 1, time.Minute}, // Max defaults to at least Initial
		{bus.Backoff{Initial: time.Hour, Max: 2 * time.Hour}, 1 << 30, 2 * time.Hour},
	}
	for _, tt := range tests {
		if got := tt.b.Delay(tt.attempt); got != tt.want {
			t.Errorf("%+v.Delay(%d) = %v, want %v", tt.b, tt.attempt, got, tt.want)
		}
	}
}

func TestBackoffJitter(t *testing.T) {
	b := bus.Backoff{Initial: 100 * time.Millisecond, Jitter: 0.5}
	seen := map[time.Duration]bool{}
	for range 100 {
		d := b.Delay(1)
		if d < 50*time.Millisecond || d > 100*time.Millisecond {
			t.Fatalf("Delay with jitter 0.5 = %v, want within [50ms, 100ms]", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Error("jitter gave the same delay every time")
	}
}

func TestSubscriptionValidate(t *testing.T) {
	ok := bus.Subscription{Name: "pay-ment_1", Patterns: []string{"order.*", "payment.>"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", ok, err)
	}
	ps, err := ok.CompilePatterns()
	if err != nil || len(ps) != 2 || !ps[0].Match("order.placed") || !ps[1].Match("payment.a.b") {
		t.Fatalf("CompilePatterns = %v, %v", ps, err)
	}
	for _, tt := range []struct {
		sub    bus.Subscription
		reason string
	}{
		{bus.Subscription{Patterns: []string{">"}}, "name must be"},
		{bus.Subscription{Name: strings.Repeat("a", 65), Patterns: []string{">"}}, "name must be"},
		{bus.Subscription{Name: "a b", Patterns: []string{">"}}, "name must be"},
		{bus.Subscription{Name: "x"}, "no patterns"},
		{bus.Subscription{Name: "x", Patterns: []string{"a..b"}}, `pattern "a..b": empty token`},
		{bus.Subscription{Name: "x", Patterns: []string{">"}, MaxAttempts: -1}, "negative max attempts"},
		{bus.Subscription{Name: "x", Patterns: []string{">"}, Backoff: bus.Backoff{Initial: time.Second, Max: time.Millisecond}}, "less than its initial"},
		{bus.Subscription{Name: "x", Patterns: []string{">"}, Backoff: bus.Backoff{Jitter: -0.1}}, "jitter"},
	} {
		err := tt.sub.Validate()
		if !errors.Is(err, bus.ErrInvalidSubscription) || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidSubscription mentioning %q", tt.sub, err, tt.reason)
		}
	}
	var pe *event.PatternError
	if err := (&bus.Subscription{Name: "x", Patterns: []string{"a.>.b"}}).Validate(); !errors.As(err, &pe) {
		t.Errorf("a bad pattern's error %v does not wrap the *event.PatternError", err)
	}
}

func TestWithDefaults(t *testing.T) {
	s := bus.Subscription{Name: "x", Patterns: []string{">"}}.WithDefaults()
	if s.MaxAttempts != bus.DefaultMaxAttempts || s.AckWait != bus.DefaultAckWait || s.Queue != 0 {
		t.Errorf("WithDefaults = %+v", s)
	}
	s = bus.Subscription{MaxAttempts: 2, AckWait: time.Second}.WithDefaults()
	if s.MaxAttempts != 2 || s.AckWait != time.Second {
		t.Errorf("WithDefaults replaced set values: %+v", s)
	}
}

func TestBackpressureError(t *testing.T) {
	var err error = &bus.BackpressureError{Subscription: "email", Queue: 1024}
	if !errors.Is(err, bus.ErrBackpressure) {
		t.Error("BackpressureError is not ErrBackpressure")
	}
	if want := `bus: subscription "email" is full (1024 unsettled events); retry later`; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
}

// fakeSettler records what a Delivery forwards to it.
type fakeSettler struct{ calls []string }

func (f *fakeSettler) Ack(token uint64) error { f.calls = append(f.calls, "ack"); return nil }
func (f *fakeSettler) Nak(token uint64, delay time.Duration, reason string) error {
	f.calls = append(f.calls, "nak "+delay.String()+" "+reason)
	return nil
}
func (f *fakeSettler) Term(token uint64, reason string) error {
	f.calls = append(f.calls, "term "+reason)
	return nil
}
func (f *fakeSettler) Extend(token uint64) error { f.calls = append(f.calls, "extend"); return nil }

func TestDelivery(t *testing.T) {
	e := &event.Event{ID: "1"}
	f := &fakeSettler{}
	d := bus.NewDelivery(e, 3, f, 7)
	if d.Event() != e || d.Attempt() != 3 {
		t.Fatalf("Event, Attempt = %v, %d", d.Event(), d.Attempt())
	}
	d.Extend()
	d.Ack()
	d.Nak(time.Second, "later")
	d.Term("never")
	if got := strings.Join(f.calls, "|"); got != "extend|ack|nak 1s later|term never" {
		t.Errorf("forwarded %q", got)
	}
	var zero bus.Delivery
	for name, err := range map[string]error{"Ack": zero.Ack(), "Nak": zero.Nak(0, ""), "Term": zero.Term(""), "Extend": zero.Extend()} {
		if !errors.Is(err, bus.ErrSettled) {
			t.Errorf("zero Delivery %s = %v, want ErrSettled", name, err)
		}
	}
}

func TestDeadLetterFilterMatch(t *testing.T) {
	dl := &bus.DeadLetter{ID: 5, Subscription: "s", Event: &event.Event{ID: "e"}}
	for f, want := range map[bus.DeadLetterFilter]bool{
		{}:                  true,
		{Subscription: "s"}: true,
		{Subscription: "t"}: false,
		{EventID: "e"}:      true,
		{EventID: "f"}:      false,
		{After: 4}:          true,
		{After: 5}:          false,
		{Subscription: "s", EventID: "e", After: 1, Limit: 1}: true,
	} {
		if got := f.Match(dl); got != want {
			t.Errorf("%+v.Match = %v, want %v", f, got, want)
		}
	}
}
