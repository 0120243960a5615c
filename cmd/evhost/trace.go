package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/evhost/evhost/host/api"

	"github.com/evhost/evhost/host/runlog"
)

const traceAbout = `Print the tree of events and handler runs that the event ID caused: under each event, the
runs of every subscription that handled it (the outcome, how long the deciding attempt took,
and the attempts before it), its dead letters, and under each run the events it emitted, and
so on. Talks to a running daemon over its API (GET /v1/events/ID/trace); --json prints the
tree as the API gives it.

Exit codes: 0 ok, 1 error, 2 usage, 4 no run and no dead letter of the event, 5 unauthorized,
6 daemon unreachable.`

// cmdTrace is `evhost trace ID`.
func cmdTrace(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "trace", "ID", traceAbout)
	df := addDaemonFlags(fs)
	asJSON := fs.Bool("json", false, "print the tree as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 || fs.Arg(0) == "" {
		fs.Usage()
		return exitUsage
	}
	id := fs.Arg(0)
	// Flags may follow the ID too: evhost trace ID --json.
	if rest := fs.Args()[1:]; len(rest) > 0 {
		if code, ok := parse(fs, rest); !ok {
			return code
		}
		if fs.NArg() != 0 {
			fs.Usage()
			return exitUsage
		}
	}
	d, ok := df.client(e, fs, "evhost trace")
	if !ok {
		return exitError
	}
	resp, body, code, ok := d.do(ctx, http.MethodGet, "/v1/events/"+url.PathEscape(id)+"/trace")
	if !ok {
		return code
	}
	if resp.StatusCode != http.StatusOK {
		return d.refused("", resp, body)
	}
	if *asJSON {
		var out bytes.Buffer
		if err := json.Indent(&out, bytes.TrimSpace(body), "", "  "); err != nil {
			fprintf(e.stderr, "evhost trace: the daemon's answer is not JSON: %v\n", err)
			return exitError
		}
		out.WriteByte('\n')
		e.stdout.Write(out.Bytes())
		return exitOK
	}
	var root api.TraceNode
	if err := json.Unmarshal(body, &root); err != nil {
		fprintf(e.stderr, "evhost trace: the daemon's answer is not a trace tree: %v\n", err)
		return exitError
	}
	printTrace(e.stdout, &root)
	return exitOK
}

// printTrace writes the tree of root: the event on a line, then its runs,
// its dead letters and the events its runs emitted as branches.
func printTrace(w io.Writer, root *api.TraceNode) {
	line := eventLine(root)
	if root.Source != "" {
		line += " (" + oneLine(root.Source, 80) + ")"
	}
	fprintf(w, "%s\n", line)
	printTraceBranches(w, root, "")
}

// eventLine is an event's type and id, on one line.
func eventLine(n *api.TraceNode) string {
	typ := n.Type
	if typ == "" {
		typ = "?"
	}
	s := oneLine(typ, 80) + " " + oneLine(n.ID, 80)
	if n.DeliverAt != nil {
		s += " delayed until " + n.DeliverAt.Format(time.RFC3339)
	}
	if n.Truncated {
		s += " [more not shown]"
	}
	return s
}

// printTraceBranches writes the branches under n, each line after
// prefix: its runs (with the events each emitted under it), its dead
// letters, and the events no run of n claims.
func printTraceBranches(w io.Writer, n *api.TraceNode, prefix string) {
	type branch struct {
		line     string
		children []*api.TraceNode
	}
	var branches []branch
	claimed := make([]bool, len(n.Children))
	for _, r := range n.Runs {
		b := branch{line: runLine(&r)}
		if !r.Webhook {
			for i, c := range n.Children {
				if !claimed[i] && c.EmittedBy == r.Subscription {
					claimed[i] = true
					b.children = append(b.children, c)
				}
			}
		}
		branches = append(branches, b)
	}
	for _, dl := range n.DeadLetters {
		how := "attempts ran out"
		if dl.Terminated {
			how = "rejected"
		}
		branches = append(branches, branch{line: fmt.Sprintf("dead letter %d (%s): %s after %d attempt(s): %q",
			dl.ID, oneLine(dl.Subscription, 64), how, dl.Attempts, oneLine(dl.Reason, 120))})
	}
	var rest []*api.TraceNode
	for i, c := range n.Children {
		if !claimed[i] {
			rest = append(rest, c)
		}
	}
	for i, b := range branches {
		last := i == len(branches)-1 && len(rest) == 0
		fprintf(w, "%s%s%s\n", prefix, fork(last), b.line)
		printTraceEvents(w, b.children, prefix+indent(last))
	}
	printTraceEvents(w, rest, prefix)
}

// printTraceEvents writes events as branches after prefix, each with its
// own branches under it.
func printTraceEvents(w io.Writer, events []*api.TraceNode, prefix string) {
	for i, c := range events {
		last := i == len(events)-1
		fprintf(w, "%s%s%s\n", prefix, fork(last), eventLine(c))
		printTraceBranches(w, c, prefix+indent(last))
	}
}

func fork(last bool) string {
	if last {
		return "└─ "
	}
	return "├─ "
}

func indent(last bool) string {
	if last {
		return "   "
	}
	return "│  "
}

// runLine describes the runs of one subscription: the outcome, the
// duration of the attempt that decided it (the done one, else the last),
// and the other attempts.
func runLine(r *api.TraceRun) string {
	if len(r.Attempts) == 0 {
		return oneLine(r.Subscription, 64) + ": " + r.Status
	}
	decisive := len(r.Attempts) - 1
	for i, a := range r.Attempts {
		if a.Status == runlog.StatusDone && a.Kind != runlog.KindShadow {
			decisive = i
			break
		}
	}
	d := r.Attempts[decisive]
	var b strings.Builder
	if r.Webhook {
		b.WriteString("webhook ")
	}
	fmt.Fprintf(&b, "%s: %s in %s", oneLine(r.Subscription, 64), d.Status, shortDuration(time.Duration(d.DurationNS)))
	var notes []string
	if d.HTTPStatus != 0 {
		notes = append(notes, fmt.Sprintf("HTTP %d", d.HTTPStatus))
	}
	if d.Status != runlog.StatusDone && d.Reason != "" && d.HTTPStatus == 0 {
		notes = append(notes, fmt.Sprintf("%q", oneLine(d.Reason, 120)))
	}
	if len(r.Attempts) > 1 || d.Attempt > 1 || d.Kind != runlog.KindDelivery && d.Kind != runlog.KindWebhook {
		notes = append(notes, attemptName(&d))
	}
	for i, a := range r.Attempts {
		if i == decisive {
			continue
		}
		s := attemptName(&a) + ": " + a.Status
		if a.Reason != "" {
			s += fmt.Sprintf(" %q", oneLine(a.Reason, 120))
		}
		notes = append(notes, s)
	}
	if len(notes) > 0 {
		b.WriteString(" (" + strings.Join(notes, "; ") + ")")
	}
	return b.String()
}

// attemptName is "attempt N", prefixed by the kind of run unless it is a
// live delivery.
func attemptName(a *api.TraceAttempt) string {
	s := fmt.Sprintf("attempt %d", a.Attempt)
	if a.Kind != runlog.KindDelivery && a.Kind != runlog.KindWebhook && a.Kind != "" {
		s = a.Kind + " " + s
	}
	return s
}

// shortDuration writes d as 850µs, 2.1ms or 1.25s.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
