// Command bench measures evhost against the systems users would pick
// instead, side by side in one interleaved run, and prints a markdown table
// of medians and ratios. README.md defines every variant.
//
//	go run . -rounds 5
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// quiet is the logger of every evhost part of the benchmark.
var quiet = slog.New(slog.DiscardHandler)

// settings are what the flags set.
type settings struct {
	rounds        int
	calls         time.Duration // per-event calls: how long each variant calls per round
	events        int           // in-process dispatch events per variant and round
	durableEvents int           // durable events per variant and round
	concurrency   int           // of the in-process dispatch subscriptions; 0: GOMAXPROCS
	groups        []string
	progress      io.Writer
}

var allGroups = []string{"call", "dispatch", "durable", "reload", "memory", "cold"}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c settings
	fs.IntVar(&c.rounds, "rounds", 5, "rounds: each runs every variant once, the order rotated")
	fs.DurationVar(&c.calls, "call-time", 300*time.Millisecond, "how long each per-event call variant calls per round")
	fs.IntVar(&c.events, "events", 200000, "events per in-process dispatch variant and round")
	fs.IntVar(&c.concurrency, "concurrency", 0, "concurrency of evhost's in-process dispatch subscriptions (0: GOMAXPROCS)")
	fs.IntVar(&c.durableEvents, "durable-events", 50000, "events per durable variant and round")
	only := fs.String("only", strings.Join(allGroups, ","), "the groups to run, comma-separated")
	withJSON := fs.Bool("json", true, "measure the per-event call of the JSON-decode logic too")
	match := fs.String("match", "", "run only the variants whose \"group / name\" contains this")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the rounds to this file")
	verbose := fs.Bool("v", true, "print each measurement as it is made (to stderr)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.progress = io.Discard
	if *verbose {
		c.progress = stderr
	}
	for _, g := range strings.Split(*only, ",") {
		if g = strings.TrimSpace(g); g == "" {
			continue
		}
		if !slices.Contains(allGroups, g) {
			return fmt.Errorf("-only: unknown group %q (have %s)", g, strings.Join(allGroups, ", "))
		}
		c.groups = append(c.groups, g)
	}
	if c.rounds < 1 {
		return fmt.Errorf("-rounds must be at least 1")
	}

	fmt.Fprintln(c.progress, "building the plugins...")
	m, err := buildModules(*withJSON && slices.Contains(c.groups, "call"))
	if err != nil {
		return err
	}
	vs, cleanup, err := variants(ctx, m, c)
	defer cleanup()
	if err != nil {
		return err
	}
	if *match != "" {
		vs = slices.DeleteFunc(vs, func(v *Variant) bool { return !strings.Contains(v.Group+" / "+v.Name, *match) })
		if len(vs) == 0 {
			return fmt.Errorf("-match %q: no variant", *match)
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	res, err := runRounds(ctx, vs, c.rounds, c.progress)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.progress, "done in %v\n\n", time.Since(start).Round(time.Second))
	fmt.Fprintf(stdout, "%s, %d CPUs (GOMAXPROCS %d), %s, %s, %d rounds\n\n", cpuModel(), runtime.NumCPU(),
		runtime.GOMAXPROCS(0), runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 MST"), c.rounds)
	writeTable(stdout, res, c.rounds)
	return nil
}

// variants sets up every variant of the chosen groups; cleanup frees them
// (it is never nil).
func variants(ctx context.Context, m *modules, c settings) (vs []*Variant, cleanup func(), err error) {
	var cleanups []func()
	cleanup = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	tmp, err := os.MkdirTemp("", "evhost-bench-")
	if err != nil {
		return nil, cleanup, err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(tmp) })
	for _, g := range c.groups {
		var more []*Variant
		switch g {
		case "call":
			cb := &callBench{}
			cleanups = append(cleanups, func() { cb.close(context.Background()) })
			more, err = callVariants(ctx, m, c.calls, cb)
		case "dispatch":
			more, err = dispatchVariants(ctx, m, c.events, c.concurrency, tmp, &cleanups)
		case "durable":
			more, err = durableVariants(ctx, m, c.durableEvents, tmp, &cleanups)
		case "reload":
			more, err = reloadVariants(ctx, m, tmp, &cleanups)
		case "memory":
			more, err = memoryVariants(ctx, m, tmp, &cleanups)
		case "cold":
			more, err = coldVariants(ctx, m, tmp)
		}
		if err != nil {
			return nil, cleanup, fmt.Errorf("setting up %s: %w", g, err)
		}
		vs = append(vs, more...)
	}
	return vs, cleanup, nil
}

// cpuModel returns the CPU's model name from /proc/cpuinfo, or GOARCH.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}
