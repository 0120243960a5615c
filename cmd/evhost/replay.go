package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/evhost/evhost/host/api"
)

// cmdReplay asks a running daemon to replay a range of its journal into one
// subscription (POST /v1/admin/replay), or to shadow-replay a candidate
// module over it.
func cmdReplay(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "replay", "SUBSCRIPTION",
		`Run the handler of SUBSCRIPTION (a plugin's name) again over recorded events, one at a
time in the order they were journaled, on the running daemon. The range is every event of
the subscription's types from --from-seq or --from-time to --to-seq or --to-time, both ends
included (default: from the oldest event kept to the last one stored).

The events the handler emits ARE PUBLISHED, unless --no-emit: with the same ids as the
first time, so that the broker drops them as duplicates within its dedup window
([broker] dedup_window), but past it they are published again and their subscribers run.

With --shadow FILE, FILE (a .wasm) runs instead, as a version of the plugin that is not
live: nothing is published, its key-value writes are discarded, and its emits are compared
with what the live version emitted for each event (from the run records), ignoring id,
time and traceparent. Exit status 0 when they all agree, 1 when some differ.

A failed run is reported, not retried.`)
	df := addDaemonFlags(fs)
	fromSeq := fs.Uint64("from-seq", 0, "first journal sequence of the range")
	toSeq := fs.Uint64("to-seq", 0, "last journal sequence of the range")
	fromTime := fs.String("from-time", "", "start of the range, RFC 3339 (2026-11-25T10:00:00Z) or a duration ago (15m, 2h)")
	toTime := fs.String("to-time", "", "end of the range, RFC 3339 or a duration ago")
	noEmit := fs.Bool("no-emit", false, "do not publish the handler's emits")
	shadow := fs.String("shadow", "", "a candidate .wasm to shadow-replay: compare its emits, publish nothing")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	if !flagSet(fs, "timeout") {
		*df.timeout = time.Hour // a replay runs as long as its range takes
	}
	q := url.Values{"subscription": {fs.Arg(0)}}
	if *fromSeq > 0 {
		q.Set("from_seq", strconv.FormatUint(*fromSeq, 10))
	}
	if *toSeq > 0 {
		q.Set("to_seq", strconv.FormatUint(*toSeq, 10))
	}
	now := time.Now()
	for _, t := range []struct{ flag, param, value string }{{"from-time", "from_time", *fromTime}, {"to-time", "to_time", *toTime}} {
		if t.value == "" {
			continue
		}
		tm, err := parseWhen(t.value, now)
		if err != nil {
			fprintf(e.stderr, "evhost replay: --%s: %v\n", t.flag, err)
			return exitUsage
		}
		q.Set(t.param, tm.UTC().Format(time.RFC3339Nano))
	}
	var candidate []byte
	if *shadow != "" {
		var err error
		if candidate, err = os.ReadFile(*shadow); err != nil {
			fprintf(e.stderr, "evhost replay: --shadow: %v\n", err)
			return exitError
		}
	}
	if *noEmit {
		q.Set("emit", "false")
	}
	c, ok := df.client(e, fs, "evhost replay")
	if !ok {
		return exitError
	}
	switch {
	case candidate != nil:
		fprintf(e.stderr, "evhost replay: shadow replay of %s (%d bytes) as %q: nothing will be published\n", *shadow, len(candidate), fs.Arg(0))
	case *noEmit:
		fprintf(e.stderr, "evhost replay: replaying %q without publishing its emits\n", fs.Arg(0))
	default:
		fprintf(e.stderr, "evhost replay: replaying %q: ITS EMITS WILL BE PUBLISHED (dropped as duplicates only within the broker's dedup window); use --no-emit to not publish them\n", fs.Arg(0))
	}
	ct := ""
	if candidate != nil {
		ct = "application/wasm"
	}
	resp, body, code, ok := c.send(ctx, http.MethodPost, "/v1/admin/replay?"+q.Encode(), ct, candidate)
	if !ok {
		return code
	}
	if resp.StatusCode != http.StatusOK {
		return c.refused("", resp, body)
	}
	var rep api.ReplayReport
	if err := json.Unmarshal(body, &rep); err != nil {
		fprintf(e.stderr, "evhost replay: an unreadable report: %v\n", err)
		return exitError
	}
	if *asJSON {
		e.stdout.Write(body)
	} else {
		printReplay(e, &rep)
	}
	if rep.Shadow && rep.Different > 0 {
		return exitError
	}
	return exitOK
}

// parseWhen parses an RFC 3339 time, or a duration meaning that long before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func printReplay(e *env, r *api.ReplayReport) {
	kind := "replay"
	if r.Shadow {
		kind = "shadow replay"
	}
	fprintf(e.stdout, "%s of %q (version %.12s): %d events", kind, r.Subscription, r.Version, r.Events)
	if r.Events > 0 {
		fprintf(e.stdout, ", sequences %d to %d", r.FirstSeq, r.LastSeq)
	}
	fprintf(e.stdout, ", in %v\n", r.Took.Round(time.Millisecond))
	fprintf(e.stdout, "  runs: %d done, %d failed (retry), %d rejected\n", r.Done, r.Retry, r.Rejected)
	switch {
	case r.Shadow:
		fprintf(e.stdout, "  emits: %d; compared with the live version: %d same, %d different, %d without a record of a live run\n",
			r.Emitted, r.Same, r.Different, r.Unrecorded)
		if r.HTTPStubbed > 0 {
			fprintf(e.stdout, "  http_request: %d calls, none sent (each answered with error -5)\n", r.HTTPStubbed)
			for _, q := range r.HTTP {
				fprintf(e.stdout, "    seq %d, event %s: %s %s\n", q.Seq, q.EventID, q.Method, q.URL)
			}
		}
	case r.Emit:
		fprintf(e.stdout, "  emits: %d; published %d, dropped as duplicates %d\n", r.Emitted, r.Published, r.Duplicates)
	default:
		fprintf(e.stdout, "  emits: %d, not published (--no-emit)\n", r.Emitted)
	}
	for _, f := range r.Failures {
		fprintf(e.stdout, "  failed: seq %d event %s: %s: %s\n", f.Seq, f.EventID, f.Status, oneLine(f.Reason, 200))
	}
	for _, d := range r.Diffs {
		fprintf(e.stdout, "  differs: seq %d event %s (%s):\n", d.Seq, d.EventID, d.EventType)
		for _, line := range d.Differences {
			fprintf(e.stdout, "    %s\n", strings.TrimSpace(line))
		}
	}
	if n := r.Different - len(r.Diffs); n > 0 {
		fprintf(e.stdout, "  ... and %d more events that differ (see --json)\n", n)
	}
}
