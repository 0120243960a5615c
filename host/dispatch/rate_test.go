package dispatch_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
)

// starts records when a handler started, and the attempts it saw.
type starts struct {
	mu       sync.Mutex
	at       []time.Time
	attempts map[int]int
	all      chan struct{}
	want     int
}

func newStarts(want int) *starts {
	return &starts{attempts: map[int]int{}, all: make(chan struct{}), want: want}
}

func (s *starts) handler() dispatch.Handler {
	return dispatch.HandlerFunc(func(_ context.Context, _ *event.Event, attempt int) dispatch.Outcome {
		s.mu.Lock()
		s.at = append(s.at, time.Now())
		s.attempts[attempt]++
		if len(s.at) == s.want {
			close(s.all)
		}
		s.mu.Unlock()
		return dispatch.Outcome{}
	})
}

// A route's rate caps its handler starts: with 8 workers and a backlog,
// 50 per second with a burst of 5 give about 50 starts in each second
// after the burst; none of the events waits an attempt away.
func TestRateLimit(t *testing.T) {
	const rate, burst, n = 50, 5, 130
	b, d := setup(t)
	s := newStarts(n)
	if err := d.Apply(context.Background(), []dispatch.Route{{
		Name: "metered", Patterns: []string{"metered"}, Handler: s.handler(), Concurrency: 8,
		Rate: rate, Burst: burst,
	}}); err != nil {
		t.Fatal(err)
	}
	for range n {
		publish(t, b, ev("metered"))
	}
	recv(t, s.all)
	s.mu.Lock()
	defer s.mu.Unlock()
	// After the burst, the n-burst others take (n-burst)/rate seconds.
	took := s.at[n-1].Sub(s.at[0]).Seconds()
	want := float64(n-burst) / rate
	if math.Abs(took-want) > 0.1*want {
		t.Errorf("%d starts took %.2fs, want %.2fs within 10%%", n, took, want)
	}
	if s.attempts[1] != n {
		t.Errorf("attempts %v, want every event on its first", s.attempts)
	}
}

// A delivery that waits for its turn longer than the ack wait is extended,
// not redelivered: a worker holding a batch of 4 deliveries, at 4 per
// second, with an ack wait of 300ms, starts each on its first attempt.
func TestRateLimitWaitKeepsAttempts(t *testing.T) {
	const n = 4
	b, d := setup(t)
	s := newStarts(n)
	if err := d.Apply(context.Background(), []dispatch.Route{{
		Name: "slow", Patterns: []string{"slow"}, Handler: s.handler(), Concurrency: 1,
		AckWait: 300 * time.Millisecond, Rate: 4, Burst: 1,
	}}); err != nil {
		t.Fatal(err)
	}
	for range n {
		publish(t, b, ev("slow"))
	}
	recv(t, s.all)
	s.mu.Lock()
	defer s.mu.Unlock()
	if took := s.at[n-1].Sub(s.at[0]); took < 700*time.Millisecond {
		t.Errorf("%d starts at 4/s took %v", n, took)
	}
	if s.attempts[1] != n || len(s.attempts) != 1 {
		t.Errorf("attempts %v, want every event on its first", s.attempts)
	}
}

// A batch whose runs outlast the ack wait is extended as it goes, not
// redelivered: with an ack wait of 300ms and runs of 150ms, a worker's
// first batch (taken whole, before it knows how long its runs take) holds
// 5 deliveries for 750ms, and each still starts on its first attempt, once.
func TestSlowBatchKeepsAttempts(t *testing.T) {
	const n = 5
	b, d := setup(t)
	s := newStarts(n)
	slow := dispatch.HandlerFunc(func(ctx context.Context, e *event.Event, attempt int) dispatch.Outcome {
		out := s.handler().Handle(ctx, e, attempt)
		time.Sleep(150 * time.Millisecond) // the handler's own work
		return out
	})
	ctx := context.Background()
	route := dispatch.Route{Name: "slow", Patterns: []string{"slow"}, Handler: slow, Concurrency: 1,
		AckWait: 300 * time.Millisecond, Paused: true}
	if err := d.Apply(ctx, []dispatch.Route{route}); err != nil {
		t.Fatal(err)
	}
	for range n {
		publish(t, b, ev("slow"))
	}
	if err := d.Resume(ctx, "slow"); err != nil { // the worker takes the 5 at once
		t.Fatal(err)
	}
	recv(t, s.all)
	waitFor(t, func() bool { return b.(bus.States).Pending()["slow"] == 0 })
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attempts[1] != n || len(s.attempts) != 1 || len(s.at) != n {
		t.Errorf("%d starts, attempts %v; want %d, every event on its first", len(s.at), s.attempts, n)
	}
}

// A worker whose runs are slow takes one delivery at a time, so that each
// is acked when the next is fetched, not when a batch ends: with runs of
// 20ms (against a batch's budget of about a millisecond), the last of 6
// events starts with the 5 before it acked.
func TestSlowRunsAreNotBatched(t *testing.T) {
	const n = 6
	b, d := setup(t)
	started := make(chan int64, n)
	slow := dispatch.HandlerFunc(func(context.Context, *event.Event, int) dispatch.Outcome {
		started <- b.(bus.States).Pending()["slow"]
		time.Sleep(20 * time.Millisecond) // the handler's own work
		return dispatch.Outcome{}
	})
	if err := d.Apply(context.Background(), []dispatch.Route{{
		Name: "slow", Patterns: []string{"slow"}, Handler: slow, Concurrency: 1,
	}}); err != nil {
		t.Fatal(err)
	}
	publish(t, b, ev("slow"))
	recv(t, started) // the first run has started: the rest wait for it
	for range n - 1 {
		publish(t, b, ev("slow"))
	}
	var last int64
	for range n - 1 {
		last = recv(t, started)
	}
	if last != 1 {
		t.Errorf("the last run started with %d events held, want 1 (itself): the runs before it were acked in a batch", last)
	}
}

// A run starts when its turn comes: the wait for the rate limit is not
// part of its duration (which the latency histogram and the run log
// show). At 4 starts a second, the second and third events wait 250 and
// 500 ms for theirs; the handler returns at once.
func TestRateLimitWaitIsNotTheRun(t *testing.T) {
	const n = 3
	var mu sync.Mutex
	var took []time.Duration
	b, d := setupObserved(t, tookObserver(func(d time.Duration) {
		mu.Lock()
		took = append(took, d)
		mu.Unlock()
	}))
	s := newStarts(n)
	if err := d.Apply(context.Background(), []dispatch.Route{{
		Name: "metered", Patterns: []string{"metered"}, Handler: s.handler(), Concurrency: 2,
		Rate: 4, Burst: 1,
	}}); err != nil {
		t.Fatal(err)
	}
	for range n {
		publish(t, b, ev("metered"))
	}
	recv(t, s.all)
	d.Close(context.Background()) // every run reported
	mu.Lock()
	defer mu.Unlock()
	if len(took) != n {
		t.Fatalf("%d runs reported, want %d", len(took), n)
	}
	for i, d := range took {
		// A quarter of a second is the wait; a run of a handler that
		// returns at once takes microseconds.
		if d >= 125*time.Millisecond {
			t.Errorf("run %d took %v: the wait for the rate limit is counted in", i+1, d)
		}
	}
}

// tookObserver is told how long each run took.
type tookObserver func(took time.Duration)

func (f tookObserver) Handled(_ string, _ *event.Event, _ int, _ dispatch.Outcome, took time.Duration) {
	f(took)
}
