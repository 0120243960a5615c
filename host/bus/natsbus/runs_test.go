package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/runlog/runlogtest"
)

// runs opens the run log of b; the test closes it.
func runs(t testing.TB, b *natsbus.Bus, opts natsbus.RunsOptions) runlog.Store {
	t.Helper()
	s, err := natsbus.Runs(context.Background(), b, opts)
	if err != nil {
		t.Fatalf("Runs: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func TestRunsConformance(t *testing.T) {
	runlogtest.Run(t, func(t *testing.T) runlog.Store {
		b := open(t, embedded(t))
		t.Cleanup(func() { closeBus(t, b) })
		return runs(t, b, natsbus.RunsOptions{})
	})
}

// TestRunsPersist: records appended before the bus closed are read after
// it reopens on the same directory, and appending goes on after them.
func TestRunsPersist(t *testing.T) {
	ctx := context.Background()
	opts := embedded(t)
	b := open(t, opts)
	s := runs(t, b, natsbus.RunsOptions{})
	r1 := runlogtest.Rec("persist", "payment", 1)
	r1.Emits = []*event.Event{runlogtest.Emit("persist", "payment", 0)}
	if err := s.Append(ctx, r1, runlogtest.Rec("other", "payment", 1)); err != nil {
		t.Fatal(err)
	}
	closeBus(t, b)
	if _, err := s.ByEvent(ctx, "persist"); !errors.Is(err, runlog.ErrClosed) || !errors.Is(err, bus.ErrClosed) {
		t.Errorf("ByEvent after the bus closed: %v, want runlog.ErrClosed and bus.ErrClosed", err)
	}

	b = open(t, opts)
	defer closeBus(t, b)
	s = runs(t, b, natsbus.RunsOptions{MaxAge: 24 * time.Hour})
	if err := s.Append(ctx, runlogtest.Rec("persist", "email", 1)); err != nil {
		t.Fatal(err)
	}
	got, err := s.ByEvent(ctx, "persist")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Seq != r1.Seq || got[0].Subscription != "payment" || got[1].Subscription != "email" {
		t.Fatalf("ByEvent after reopening = %+v", got)
	}
	if len(got[0].Emits) != 1 || got[0].Emits[0].ID != r1.Emits[0].ID {
		t.Errorf("emits after reopening = %+v", got[0].Emits)
	}
}

// TestRunsManyEvents appends records of many events in batches from several
// goroutines and reads each event's back.
func TestRunsManyEvents(t *testing.T) {
	ctx := context.Background()
	b := open(t, embedded(t))
	defer closeBus(t, b)
	s := runs(t, b, natsbus.RunsOptions{})
	const events, subs = 2000, 3
	var wg sync.WaitGroup
	for w := 0; w < subs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch []*runlog.Record
			for i := 0; i < events; i++ {
				batch = append(batch, runlogtest.Rec(fmt.Sprint("ev-", i), fmt.Sprint("sub", w), 1))
				if len(batch) == 300 || i == events-1 {
					if err := s.Append(ctx, batch...); err != nil {
						t.Error(err)
						return
					}
					batch = batch[:0]
				}
			}
		}()
	}
	wg.Wait()
	for i := 0; i < events; i += 97 {
		got, err := s.ByEvent(ctx, fmt.Sprint("ev-", i))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != subs {
			t.Errorf("ByEvent(ev-%d) = %d records, want %d", i, len(got), subs)
		}
	}
	all, err := s.List(ctx, runlog.Filter{Subscription: "sub1", Limit: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != events {
		t.Errorf("List(sub1) = %d records, want %d", len(all), events)
	}
}

// TestRunsOversized: a record over the server's maximum payload is stored
// shortened, its emits' attributes kept.
func TestRunsOversized(t *testing.T) {
	ctx := context.Background()
	b := open(t, embedded(t))
	defer closeBus(t, b)
	s := runs(t, b, natsbus.RunsOptions{})
	r := runlogtest.Rec("huge", "payment", 1)
	for i := 0; i < 3; i++ {
		e := runlogtest.Emit("huge", "payment", i)
		e.Data = []byte(`"` + strings.Repeat("x", 600<<10) + `"`)
		r.Emits = append(r.Emits, e)
	}
	if err := s.Append(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.ByEvent(ctx, "huge")
	if err != nil || len(got) != 1 {
		t.Fatalf("ByEvent = %+v, %v", got, err)
	}
	if !got[0].Truncated || len(got[0].Emits) != 3 || got[0].Emits[2].ID != r.Emits[2].ID || len(got[0].Emits[0].Data) != 0 {
		t.Errorf("stored %+v", got[0])
	}
}

func TestRunsOptions(t *testing.T) {
	b := open(t, embedded(t))
	defer closeBus(t, b)
	for _, o := range []natsbus.RunsOptions{{MaxAge: -1}, {MaxBytes: -1}} {
		if _, err := natsbus.Runs(context.Background(), b, o); err == nil {
			t.Errorf("Runs(%+v) accepted", o)
		}
	}
	// Reopening with other limits updates the stream.
	runs(t, b, natsbus.RunsOptions{MaxBytes: 1 << 20})
	runs(t, b, natsbus.RunsOptions{MaxAge: time.Hour})
}

// BenchmarkRunsAppend appends records of about 540 bytes of JSON (one emit) in
// batches of 256, as the Recorder does, from one and from four goroutines.
func BenchmarkRunsAppend(b *testing.B) {
	for _, workers := range []int{1, 4} {
		b.Run(fmt.Sprint("goroutines=", workers), func(b *testing.B) {
			nb := benchBus(b, embedded(b))
			s := runs(b, nb, natsbus.RunsOptions{})
			recs := make([]*runlog.Record, 256)
			for i := range recs {
				recs[i] = runlogtest.Rec(fmt.Sprint("ev-", i), "payment", 1)
				recs[i].Emits = []*event.Event{runlogtest.Emit(recs[i].EventID, "payment", 0)}
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			per := (b.N + workers - 1) / workers
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					own := make([]*runlog.Record, len(recs))
					for i := range own {
						c := *recs[i]
						own[i] = &c
					}
					for n := 0; n < per; n += len(own) {
						if err := s.Append(context.Background(), own[:min(len(own), per-n)]...); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(per*workers)/time.Since(start).Seconds(), "records/s")
		})
	}
}

// BenchmarkRunsByEvent reads the records of one event (five runs) among
// 50,000 records of 10,000 events, with gap records of other events
// between two runs of one event: a few hundred when the subscriptions of
// an event run it at about the same time, many thousands for retries
// after a backoff under load.
func BenchmarkRunsByEvent(b *testing.B) {
	for _, gap := range []int{100, 10_000} {
		b.Run(fmt.Sprint("gap=", gap), func(b *testing.B) {
			ctx := context.Background()
			nb := benchBus(b, embedded(b))
			s := runs(b, nb, natsbus.RunsOptions{})
			const total, per = 50_000, 5
			var batch []*runlog.Record
			for i := 0; i < total; i++ {
				ev := i/(per*gap)*gap + i%gap
				batch = append(batch, runlogtest.Rec(fmt.Sprint("ev-", ev), fmt.Sprint("sub", i/gap%per), 1))
				if len(batch) == 256 || i == total-1 {
					if err := s.Append(ctx, batch...); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				got, err := s.ByEvent(ctx, fmt.Sprint("ev-", i*7919%(total/per)))
				if err != nil || len(got) != per {
					b.Fatalf("ByEvent = %d records, %v", len(got), err)
				}
			}
		})
	}
}
