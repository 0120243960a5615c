package runlog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/evhost/evhost/host/runlog"
)

// BenchmarkMemoryAppend measures what the memory broker's run log costs
// per handled event in steady state: a full Memory of the default bound,
// records of distinct events appended in the Recorder's batches.
func BenchmarkMemoryAppend(b *testing.B) {
	ctx := context.Background()
	m := runlog.NewMemory(0)
	const batch, ids = 256, 1 << 18 // more ids than the bound: an id comes back after its record is forgotten
	names := make([]string, ids)
	for i := range names {
		names[i] = fmt.Sprintf("%036d", i)
	}
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	recs := make([]*runlog.Record, batch)
	fill := func(n int) {
		for j := range recs {
			recs[j] = &runlog.Record{Subscription: "count", EventID: names[(n+j)%ids], EventSource: "/shop",
				EventType: "order.placed", Attempt: 1, Status: runlog.StatusDone, Start: start, Duration: time.Microsecond}
		}
	}
	for n := 0; n < runlog.DefaultMemoryRecords; n += batch { // fill it
		fill(n)
		if err := m.Append(ctx, recs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += batch {
		b.StopTimer()
		fill(runlog.DefaultMemoryRecords + n)
		b.StartTimer()
		if err := m.Append(ctx, recs[:min(batch, b.N-n)]...); err != nil {
			b.Fatal(err)
		}
	}
}
