package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// latencyBounds are the upper bounds, in seconds, of the buckets of
// evhost_handler_duration_seconds.
var latencyBounds = [...]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// latencyBoundsNS are latencyBounds in nanoseconds.
var latencyBoundsNS = func() (ns [len(latencyBounds)]int64) {
	for i, b := range latencyBounds {
		ns[i] = int64(b * float64(time.Second))
	}
	return ns
}()

var descLatency = prometheus.NewDesc("evhost_handler_duration_seconds",
	"Time to handle one delivery (the handler call, publishing its emits and settling), per subscription.",
	[]string{"subscription"}, nil)

// latency is the handler latency histogram of one subscription. Unlike a
// prometheus.Histogram it can take a batch of observations in one atomic
// add per bucket they fell in (see host/RATIONALE.md, "Why is the handler
// latency histogram evhost's own...?"). It is safe for concurrent use.
type latency struct {
	counts  [len(latencyBounds) + 1]atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sumNS   atomic.Int64
	created time.Time // exported as the histogram's created timestamp, as a prometheus.Histogram's
}

// bucket returns the index of the bucket d falls in.
func bucket(d time.Duration) int {
	ns := int64(d)
	for i, b := range latencyBoundsNS {
		if ns <= b {
			return i
		}
	}
	return len(latencyBoundsNS)
}

// observe counts one observation.
func (l *latency) observe(d time.Duration) {
	d = max(d, 0)
	l.counts[bucket(d)].Add(1)
	l.sumNS.Add(int64(d))
}

// latencyBatch gathers observations to add to a latency at once.
type latencyBatch struct {
	counts [len(latencyBounds) + 1]uint32
	sumNS  int64
}

// add counts d in the batch.
func (b *latencyBatch) add(d time.Duration) {
	d = max(d, 0)
	b.counts[bucket(d)]++
	b.sumNS += int64(d)
}

// addBatch adds b's observations to l, and empties b.
func (l *latency) addBatch(b *latencyBatch) {
	for i, n := range b.counts {
		if n > 0 {
			l.counts[i].Add(uint64(n))
		}
	}
	l.sumNS.Add(b.sumNS)
	*b = latencyBatch{}
}

// read returns the cumulative count of each bucket but +Inf, and the count
// of every observation. Each bucket is read once, so the counts agree with
// each other; the sum, read after them, may include observations made
// meanwhile.
func (l *latency) read() (cumulative []uint64, count uint64) {
	cumulative = make([]uint64, len(latencyBounds))
	for i := range l.counts {
		count += l.counts[i].Load()
		if i < len(cumulative) {
			cumulative[i] = count
		}
	}
	return cumulative, count
}

// latencyCollector exports every subscription's latency histogram.
type latencyCollector struct{ m *Metrics }

// Describe implements prometheus.Collector.
func (c latencyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descLatency }

// Collect implements prometheus.Collector.
func (c latencyCollector) Collect(ch chan<- prometheus.Metric) {
	for name, rm := range *c.m.routes.Load() {
		cum, count := rm.latency.read()
		buckets := make(map[float64]uint64, len(cum))
		for i, n := range cum {
			buckets[latencyBounds[i]] = n
		}
		ch <- prometheus.MustNewConstHistogramWithCreatedTimestamp(descLatency, count,
			time.Duration(rm.latency.sumNS.Load()).Seconds(), buckets, rm.latency.created, name)
	}
}
