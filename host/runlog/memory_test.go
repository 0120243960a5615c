package runlog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/runlog/runlogtest"
)

func TestMemoryConformance(t *testing.T) {
	runlogtest.Run(t, func(t *testing.T) runlog.Store { return runlog.NewMemory(0) })
}

func TestMemoryBound(t *testing.T) {
	ctx := context.Background()
	m := runlog.NewMemory(10)
	for i := 0; i < 25; i++ {
		// Events e0..e4, five records each, spread over time.
		if err := m.Append(ctx, runlogtest.Rec(fmt.Sprint("e", i%5), "sub", i/5+1)); err != nil {
			t.Fatal(err)
		}
	}
	if m.Len() != 10 {
		t.Errorf("Len = %d, want 10", m.Len())
	}
	for i := 0; i < 5; i++ {
		got, _ := m.ByEvent(ctx, fmt.Sprint("e", i))
		if len(got) != 2 || got[0].Attempt != 4 || got[1].Attempt != 5 {
			t.Errorf("ByEvent(e%d) = %+v, want its last two attempts", i, got)
		}
	}
	all, _ := m.List(ctx, runlog.Filter{})
	if len(all) != 10 || all[0].Seq != 16 || all[9].Seq != 25 {
		t.Errorf("List = %d records from %d, want 10 from 16", len(all), all[0].Seq)
	}
	if got, _ := m.List(ctx, runlog.Filter{After: 3}); len(got) != 10 {
		t.Errorf("List after a forgotten record = %d records, want the 10 kept", len(got))
	}
	// An event whose records were all forgotten leaves no trace.
	if err := m.Append(ctx, runlogtest.Rec("once", "sub", 1)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		_ = m.Append(ctx, runlogtest.Rec("other", "sub", i))
	}
	if got, _ := m.ByEvent(ctx, "once"); len(got) != 0 {
		t.Errorf("ByEvent(once) = %+v after it was pushed out", got)
	}
}

// TestMemoryMatchesAReference: with few buckets (a bound of 8) and many
// ids, ids share buckets and the ring wraps many times; ByEvent must
// still return exactly the kept records of its id, oldest first.
func TestMemoryMatchesAReference(t *testing.T) {
	ctx := context.Background()
	const bound = 8
	m := runlog.NewMemory(bound)
	var kept []*runlog.Record // the last bound appended
	for i := 0; i < 500; i++ {
		r := runlogtest.Rec(fmt.Sprint("id", i*7%13), "sub", i+1)
		if err := m.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, r)
		if len(kept) > bound {
			kept = kept[1:]
		}
		for id := 0; id < 13; id++ {
			var want []int
			for _, k := range kept {
				if k.EventID == fmt.Sprint("id", id) {
					want = append(want, k.Attempt)
				}
			}
			got, err := m.ByEvent(ctx, fmt.Sprint("id", id))
			if err != nil {
				t.Fatal(err)
			}
			var attempts []int
			for _, g := range got {
				attempts = append(attempts, g.Attempt)
			}
			if fmt.Sprint(attempts) != fmt.Sprint(want) {
				t.Fatalf("after %d appends, ByEvent(id%d) = attempts %v, want %v", i+1, id, attempts, want)
			}
		}
	}
}

// TestMemoryHammer appends, reads and lists from many goroutines past the
// bound (run with -race).
func TestMemoryHammer(t *testing.T) {
	ctx := context.Background()
	m := runlog.NewMemory(100)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				id := fmt.Sprint("e", i%37)
				if err := m.Append(ctx, runlogtest.Rec(id, fmt.Sprint("s", w), i)); err != nil {
					t.Error(err)
					return
				}
				got, err := m.ByEvent(ctx, id)
				if err != nil {
					t.Error(err)
					return
				}
				for j := range got {
					if got[j].EventID != id || j > 0 && got[j].Seq <= got[j-1].Seq {
						t.Errorf("ByEvent(%s) = %+v", id, got)
						return
					}
				}
				if _, err := m.List(ctx, runlog.Filter{Subscription: "s1", Limit: 5}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if m.Len() != 100 {
		t.Errorf("Len = %d, want 100", m.Len())
	}
	n := 0
	for i := 0; i < 37; i++ {
		got, _ := m.ByEvent(ctx, fmt.Sprint("e", i))
		n += len(got)
	}
	if n != 100 {
		t.Errorf("the index holds %d records, want the 100 kept", n)
	}
}

// TestMemoryAcrossChunks: a bound past several of the ring's chunks (the
// last one partial), wrapped twice, keeps exactly the last bound records,
// in order, each found by its id.
func TestMemoryAcrossChunks(t *testing.T) {
	ctx := context.Background()
	const bound = 2500 // 1024 + 1024 + 452
	m := runlog.NewMemory(bound)
	const appended = 2*bound + 700
	for i := 0; i < appended; i += 100 { // in batches, as the Recorder appends
		var batch []*runlog.Record
		for j := i; j < min(i+100, appended); j++ {
			batch = append(batch, runlogtest.Rec(fmt.Sprint("id", j), "sub", j+1))
		}
		if err := m.Append(ctx, batch...); err != nil {
			t.Fatal(err)
		}
		if want := min(i+100, appended, bound); m.Len() != want {
			t.Fatalf("after %d appends, Len = %d, want %d", min(i+100, appended), m.Len(), want)
		}
	}
	all, err := m.List(ctx, runlog.Filter{Limit: bound})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != bound || all[0].Attempt != appended-bound+1 || all[bound-1].Attempt != appended {
		t.Fatalf("List = %d records, attempts %d..%d; want %d, %d..%d", len(all), all[0].Attempt, all[len(all)-1].Attempt, bound, appended-bound+1, appended)
	}
	for i, r := range all {
		if r.Attempt != appended-bound+1+i || r.Seq != uint64(r.Attempt) {
			t.Fatalf("List[%d] = attempt %d, seq %d; want attempt and seq %d", i, r.Attempt, r.Seq, appended-bound+1+i)
		}
	}
	for _, j := range []int{appended - bound - 1, appended - bound, appended - bound + 1023, appended - bound + 1024, appended - 1} {
		got, err := m.ByEvent(ctx, fmt.Sprint("id", j))
		if err != nil {
			t.Fatal(err)
		}
		if kept := j >= appended-bound; kept != (len(got) == 1) || kept && got[0].Attempt != j+1 {
			t.Errorf("ByEvent(id%d) = %+v; kept: %v", j, got, kept)
		}
	}
}
