package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/evhost/evhost/host/api"
)

const subscriptionsAbout = `A subscription is the durable queue of a plugin or a webhook: it holds the events
of its types until they are handled. Disabling or removing a plugin or webhook in the
config stops its handler but keeps its subscription: the events go on queueing (up to
its limits), and once it is enabled again it handles what arrived meanwhile. Deleting
the subscription is the explicit act that drops them. Talks to a running daemon over its
admin API (/v1/admin/subscriptions).

Pausing a subscription holds its events for every daemon sharing it (they queue up to
its limits) until it is resumed; the pause is kept by the broker, across restarts.

Subcommands:
  list    [flags]              a table of the subscriptions and their state (--json: the API's JSON)
  pause   [flags] NAME         pause the subscription NAME
  resume  [flags] NAME         resume it: its events are handled in order
  delete  [flags] --yes NAME   delete the subscription NAME (not running) and the events it holds

Exit codes: 0 ok, 1 error, 2 usage, 3 the daemon is busy, 4 refused (no such subscription,
or it is running), 5 unauthorized, 6 daemon unreachable.`

// cmdSubscriptions is `evhost subscriptions list|pause|resume|delete`.
func cmdSubscriptions(ctx context.Context, args []string, e *env) int {
	return runGroup(ctx, args, e, "subscriptions", subscriptionsAbout, []command{
		{name: "list", run: cmdSubscriptionsList},
		{name: "pause", run: cmdSubscriptionsPause(true)},
		{name: "resume", run: cmdSubscriptionsPause(false)},
		{name: "delete", run: cmdSubscriptionsDelete},
	})
}

func cmdSubscriptionsDelete(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "subscriptions delete", "--yes NAME",
		"Delete the subscription NAME: its position and the events it holds are dropped for good\n(its dead letters are kept). Disable or remove the plugin or webhook in the config first.")
	df := addDaemonFlags(fs)
	yes := fs.Bool("yes", false, "confirm: the events the subscription holds are lost")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	name := fs.Arg(0)
	if !*yes {
		fprintf(e.stderr, "evhost subscriptions delete: deleting %s drops the events it holds; run again with --yes to confirm\n", name)
		return exitUsage
	}
	d, ok := df.client(e, fs, "evhost subscriptions delete")
	if !ok {
		return exitError
	}
	resp, body, code, ok := d.do(ctx, http.MethodDelete, "/v1/admin/subscriptions/"+url.PathEscape(name))
	if !ok {
		return code
	}
	if resp.StatusCode != http.StatusOK {
		return d.refused(name, resp, body)
	}
	fprintf(e.stdout, "deleted subscription %s\n", name)
	return exitOK
}

func cmdSubscriptionsList(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "subscriptions list", "",
		"List the subscriptions: NAME, KIND, STATE (running, paused, off: disabled in the config),\nPENDING (events held), IN FLIGHT (being handled by this daemon), HANDLED, FAILED, DEAD\n(dead-lettered), RATE (the rate limit shared by the daemons) and PATTERNS.")
	df := addDaemonFlags(fs)
	asJSON := fs.Bool("json", false, "print the API's JSON instead of a table")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return exitUsage
	}
	d, ok := df.client(e, fs, "evhost subscriptions list")
	if !ok {
		return exitError
	}
	resp, body, code, ok := d.do(ctx, http.MethodGet, "/v1/subscriptions")
	if !ok {
		return code
	}
	if resp.StatusCode != http.StatusOK {
		return d.refused("", resp, body)
	}
	if *asJSON {
		e.stdout.Write(body)
		return exitOK
	}
	var list struct{ Subscriptions []api.SubscriptionStatus }
	if err := json.Unmarshal(body, &list); err != nil {
		fprintf(e.stderr, "evhost subscriptions list: the daemon's answer is not a list of subscriptions: %v\n", err)
		return exitError
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fprintf(tw, "NAME\tKIND\tSTATE\tPENDING\tIN FLIGHT\tHANDLED\tFAILED\tDEAD\tRATE\tPATTERNS\n")
	for _, s := range list.Subscriptions {
		state := "running"
		switch {
		case !s.Running && s.Paused:
			state = "off, paused"
		case !s.Running:
			state = "off"
		case s.Paused:
			state = "paused"
		}
		pending := "-"
		if s.Pending >= 0 {
			pending = strconv.FormatInt(s.Pending, 10)
		}
		rate := s.Rate
		if rate == "" {
			rate = "-"
		}
		fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", s.Name, s.Kind, state, pending, s.InFlight, s.Handled, s.Failed, s.DeadLettered, rate, jsonText(s.Patterns))
	}
	tw.Flush()
	return exitOK
}

// cmdSubscriptionsPause is `evhost subscriptions pause` (or resume).
func cmdSubscriptionsPause(pause bool) func(context.Context, []string, *env) int {
	verb, about := "resume", "Resume the subscription NAME: the events it held are handled, in order."
	if pause {
		verb, about = "pause", "Pause the subscription NAME for every daemon sharing it: its events wait (and queue up\nto its limits) until 'evhost subscriptions resume NAME'."
	}
	return func(ctx context.Context, args []string, e *env) int {
		fs := newFlags(e, "subscriptions "+verb, "NAME", about)
		df := addDaemonFlags(fs)
		if code, ok := parse(fs, args); !ok {
			return code
		}
		if fs.NArg() != 1 {
			fs.Usage()
			return exitUsage
		}
		name := fs.Arg(0)
		d, ok := df.client(e, fs, "evhost subscriptions "+verb)
		if !ok {
			return exitError
		}
		resp, body, code, ok := d.do(ctx, http.MethodPost, "/v1/admin/subscriptions/"+url.PathEscape(name)+"/"+verb)
		if !ok {
			return code
		}
		if resp.StatusCode != http.StatusOK {
			return d.refused(name, resp, body)
		}
		fprintf(e.stdout, "%sd subscription %s\n", verb, name)
		return exitOK
	}
}

// jsonText is v as compact JSON for a person: ">" stays ">" (json.Marshal
// would write \u003e).
func jsonText(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return strings.TrimSpace(b.String())
}
