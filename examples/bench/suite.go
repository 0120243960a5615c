package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Unit is what a variant's measurement counts.
type Unit int

// The units of the table.
const (
	NsPerOp      Unit = iota // per-event call: lower is better
	EventsPerSec             // throughput: higher is better
	Millis                   // latency: lower is better
	Bytes                    // memory: lower is better
)

func (u Unit) String() string {
	return [...]string{"ns/op", "events/s", "ms", "bytes"}[u]
}

func (u Unit) higherIsBetter() bool { return u == EventsPerSec }

// Variant is one line of the table: one system measured one way. Run does
// one measurement (one round's worth) and returns it in Unit.
type Variant struct {
	Group string // the comparison it belongs to, e.g. "call: byte count"
	Name  string
	Unit  Unit
	// Baseline marks evhost's variant of the group: every other variant of
	// the group gets its ratio against it.
	Baseline bool
	Run      func(ctx context.Context) (float64, error)
}

// Result is a variant's measurements over the rounds.
type Result struct {
	*Variant
	Samples []float64
}

// Median returns the median of the samples.
func (r *Result) Median() float64 {
	s := slices.Clone(r.Samples)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// runRounds runs every variant once per round, in turn, the order rotated
// by one each round (round r starts with variant r mod len), so that no
// variant always runs first, right after another, or while the machine
// warms up. Progress lines go to log.
func runRounds(ctx context.Context, vs []*Variant, rounds int, log io.Writer) ([]*Result, error) {
	res := make([]*Result, len(vs))
	for i, v := range vs {
		res[i] = &Result{Variant: v}
	}
	for r := range rounds {
		for k := range vs {
			i := (r + k) % len(vs)
			start := time.Now()
			x, err := vs[i].Run(ctx)
			if err != nil {
				return nil, fmt.Errorf("round %d: %s / %s: %w", r+1, vs[i].Group, vs[i].Name, err)
			}
			res[i].Samples = append(res[i].Samples, x)
			fmt.Fprintf(log, "round %d/%d  %-28s %-44s %14s %s  (%v)\n", r+1, rounds, vs[i].Group, vs[i].Name,
				format(x, vs[i].Unit), vs[i].Unit, time.Since(start).Round(time.Millisecond))
		}
	}
	return res, nil
}

// ratio returns how many times better evhost's baseline is than r (above
// 1: evhost ahead; below 1: r ahead), or NaN when the group has no baseline
// or r is the baseline.
func ratio(r *Result, all []*Result) float64 {
	if r.Baseline {
		return math.NaN()
	}
	for _, b := range all {
		if b.Group == r.Group && b.Baseline {
			if r.Unit.higherIsBetter() {
				return b.Median() / r.Median()
			}
			return r.Median() / b.Median()
		}
	}
	return math.NaN()
}

func format(x float64, u Unit) string {
	switch {
	case math.IsNaN(x):
		return "-"
	case u == Millis && x < 100:
		return fmt.Sprintf("%.1f", x)
	case u == NsPerOp && x < 100:
		return fmt.Sprintf("%.1f", x)
	}
	return thousands(int64(math.Round(x)))
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// writeTable writes the medians as a markdown table: value, unit, the
// spread over the rounds and the ratio against evhost's variant of the
// group.
func writeTable(w io.Writer, res []*Result, rounds int) {
	fmt.Fprintf(w, "| group | variant | median | unit | min .. max over %d rounds | evhost ahead by |\n", rounds)
	fmt.Fprintln(w, "|---|---|---:|---|---|---:|")
	for _, r := range res {
		lo, hi := slices.Min(r.Samples), slices.Max(r.Samples)
		rat := "-"
		switch q := ratio(r, res); {
		case r.Baseline:
			rat = "(baseline)"
		case !math.IsNaN(q):
			rat = fmt.Sprintf("%.2fx", q)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s .. %s | %s |\n", r.Group, r.Name,
			format(r.Median(), r.Unit), r.Unit, format(lo, r.Unit), format(hi, r.Unit), rat)
	}
}
