package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/evhost/evhost/host/api"

	"github.com/evhost/evhost/host/event"
)

const dlqAbout = `Dead letters are the events a handler gave up on: it rejected them, or their attempts
ran out. List them, show one, and retry them once the handler is fixed (each goes back
into its subscription's queue as a fresh event). Talks to a running daemon over its
admin API (/v1/admin/dlq).

Subcommands:
  list   [flags]                        a table of dead letters, oldest first (--json: JSON lines)
  show   [flags] ID                     one dead letter, with its event, as JSON
  retry  [flags] ID...                  retry these dead letters
  retry  [flags] --subscription S --all retry every dead letter of the subscription S

Exit codes: 0 ok, 1 error, 2 usage, 3 the daemon is busy (a full queue; retry later),
4 refused (no such dead letter, a bad argument), 5 unauthorized, 6 daemon unreachable.`

// cmdDLQ is `evhost dlq list|show|retry`.
func cmdDLQ(ctx context.Context, args []string, e *env) int {
	return runGroup(ctx, args, e, "dlq", dlqAbout, []command{
		{name: "list", run: cmdDLQList}, {name: "show", run: cmdDLQShow}, {name: "retry", run: cmdDLQRetry},
	})
}

func cmdDLQList(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "dlq list", "",
		"List the dead letters, oldest first: a table of ID, TIME (UTC), SUBSCRIPTION, ATTEMPTS,\nEVENT TYPE, EVENT ID and REASON (cut short; see 'evhost dlq show ID'), or with --json\none dead letter per line as the API gives it.")
	df := addDaemonFlags(fs)
	sub := fs.String("subscription", "", "only the dead letters of this subscription (a plugin's name)")
	eventID := fs.String("event-id", "", "only the dead letters of the event with this id")
	after := fs.Uint64("after", 0, "only the dead letters with an ID greater than this")
	limit := fs.Int("limit", 100, "list at most this many; 0 lists them all")
	asJSON := fs.Bool("json", false, "print JSON lines instead of a table")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 || *limit < 0 {
		fs.Usage()
		return exitUsage
	}
	d, ok := df.client(e, fs, "evhost dlq list")
	if !ok {
		return exitError
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if !*asJSON {
		fprintf(tw, "ID\tTIME\tSUBSCRIPTION\tATTEMPTS\tEVENT TYPE\tEVENT ID\tREASON\n")
	}
	n, cursor := 0, *after
	for {
		q := url.Values{}
		if *sub != "" {
			q.Set("subscription", *sub)
		}
		if *eventID != "" {
			q.Set("event_id", *eventID)
		}
		if cursor > 0 {
			q.Set("after", strconv.FormatUint(cursor, 10))
		}
		page := api.MaxDeadLetterPage
		if *limit > 0 {
			page = min(page, *limit-n)
		}
		q.Set("limit", strconv.Itoa(page))
		resp, body, code, ok := d.do(ctx, http.MethodGet, "/v1/admin/dlq?"+q.Encode())
		if !ok {
			return code
		}
		if resp.StatusCode != http.StatusOK {
			return d.refused("", resp, body)
		}
		var p api.DeadLetterPage
		if err := json.Unmarshal(body, &p); err != nil {
			fprintf(e.stderr, "evhost dlq list: the daemon's answer is not a page of dead letters: %v\n", err)
			return exitError
		}
		for i := range p.DeadLetters {
			dl := &p.DeadLetters[i]
			if *asJSON {
				line, err := json.Marshal(dl)
				if err != nil {
					fprintf(e.stderr, "evhost dlq list: dead letter %d: %v\n", dl.ID, err)
					return exitError
				}
				e.stdout.Write(append(line, '\n'))
				continue
			}
			typ, id := "?", "?"
			if ev, err := event.DecodeJSON(dl.Event); err == nil {
				typ, id = ev.Type, ev.ID
			}
			fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", dl.ID, dl.Time.UTC().Format(time.RFC3339), dl.Subscription,
				dl.Attempts, oneLine(typ, 40), oneLine(id, 40), oneLine(dl.Reason, 80))
		}
		n += len(p.DeadLetters)
		if p.NextAfter == 0 {
			break
		}
		cursor = p.NextAfter
		if *limit > 0 && n >= *limit {
			tw.Flush()
			fprintf(e.stderr, "evhost dlq list: more dead letters after ID %d: add --after %d, or --limit 0 for all\n", cursor, cursor)
			return exitOK
		}
	}
	if !*asJSON {
		if n == 0 {
			fprintf(e.stderr, "no dead letters\n")
			return exitOK
		}
		tw.Flush()
	}
	return exitOK
}

// oneLine returns s on one line (control characters as spaces), cut to n
// characters with an ellipsis.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// parseID parses a dead letter ID argument.
func parseID(e *env, name, s string) (uint64, bool) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		fprintf(e.stderr, "%s: %q is not a dead letter ID (a positive integer, the ID column of 'evhost dlq list')\n", name, s)
		return 0, false
	}
	return id, true
}

func cmdDLQShow(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "dlq show", "ID",
		"Print the dead letter ID as indented JSON: its subscription, reason, attempts, whether\nthe handler rejected it (terminated), when, and the event in CloudEvents JSON form.")
	df := addDaemonFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	id, ok := parseID(e, "evhost dlq show", fs.Arg(0))
	if !ok {
		return exitUsage
	}
	d, ok := df.client(e, fs, "evhost dlq show")
	if !ok {
		return exitError
	}
	resp, body, code, ok := d.do(ctx, http.MethodGet, "/v1/admin/dlq/"+strconv.FormatUint(id, 10))
	if !ok {
		return code
	}
	if resp.StatusCode != http.StatusOK {
		return d.refused("", resp, body)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(body), "", "  "); err != nil {
		fprintf(e.stderr, "evhost dlq show: the daemon's answer is not JSON: %v\n", err)
		return exitError
	}
	out.WriteByte('\n')
	e.stdout.Write(out.Bytes())
	return exitOK
}

func cmdDLQRetry(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "dlq retry", "ID... | --subscription S --all",
		"Retry dead letters: put each one's event back into its subscription's queue as a fresh\nevent (its attempts start again) and remove the dead letter. Fix the handler first: an\nevent that fails again becomes a new dead letter. With --subscription S --all, retry every\ndead letter of S there is now. A full queue stops the retries (exit code 3): the rest\nstay dead letters; run the command again later.")
	df := addDaemonFlags(fs)
	sub := fs.String("subscription", "", "with --all: the subscription whose dead letters to retry")
	all := fs.Bool("all", false, "retry every dead letter of --subscription")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	switch {
	case *all && *sub == "":
		fprintf(e.stderr, "evhost dlq retry: --all needs --subscription (retrying every subscription's dead letters at once is not offered)\n")
		return exitUsage
	case *all && fs.NArg() > 0:
		fprintf(e.stderr, "evhost dlq retry: give IDs or --all, not both\n")
		return exitUsage
	case !*all && *sub != "":
		fprintf(e.stderr, "evhost dlq retry: --subscription goes with --all (to retry some of its dead letters, give their IDs)\n")
		return exitUsage
	case !*all && fs.NArg() == 0:
		fs.Usage()
		return exitUsage
	}
	var ids []uint64
	for _, a := range fs.Args() {
		id, ok := parseID(e, "evhost dlq retry", a)
		if !ok {
			return exitUsage
		}
		ids = append(ids, id)
	}
	d, ok := df.client(e, fs, "evhost dlq retry")
	if !ok {
		return exitError
	}
	if *all {
		return retryAll(ctx, d, *sub)
	}
	exit := exitOK
	for _, id := range ids {
		resp, body, code, ok := d.do(ctx, http.MethodPost, "/v1/admin/dlq/"+strconv.FormatUint(id, 10)+"/retry")
		if !ok {
			return code
		}
		if resp.StatusCode == http.StatusOK {
			fprintf(e.stdout, "redriven %d\n", id)
			continue
		}
		code = d.refused(fmt.Sprintf("dead letter %d", id), resp, body)
		if exit == exitOK {
			exit = code
		}
		if code != exitRejected { // busy, unauthorized, broken: the next ones would fail too
			return exit
		}
	}
	return exit
}

// retryAll retries every dead letter of the subscription sub.
func retryAll(ctx context.Context, d *apiClient, sub string) int {
	resp, body, code, ok := d.do(ctx, http.MethodPost, "/v1/admin/dlq/retry?"+url.Values{"subscription": {sub}}.Encode())
	if !ok {
		return code
	}
	var rep api.RedriveReport
	if json.Unmarshal(body, &rep) != nil || rep.Subscription == "" {
		return d.refused("", resp, body)
	}
	notFound := ""
	if rep.NotFound > 0 {
		notFound = fmt.Sprintf(" (%d gone meanwhile, or their subscription no longer exists)", rep.NotFound)
	}
	fprintf(d.e.stdout, "redriven %d dead letters of %s%s\n", rep.Redriven, sub, notFound)
	if resp.StatusCode != http.StatusOK {
		return d.refused(fmt.Sprintf("%d dead letters of %s remain", rep.Remaining, sub), resp, body)
	}
	return exitOK
}
