package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

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

Webhooks can also be created at runtime, beside the config's: kept by the broker (a KV
bucket), they survive restarts and every daemon of a cluster serves them; on the memory
broker they live in the daemon's process only. The config's webhooks stay read-only here.
'evhost webhooks list' lists both (SOURCE config or api).

Subcommands:
  list            [flags]              a table of the subscriptions and their state (--json: the API's JSON)
  pause           [flags] NAME         pause the subscription NAME
  resume          [flags] NAME         resume it: its events are handled in order
  delete          [flags] --yes NAME   delete the subscription NAME (not running) and the events it holds
  add-webhook     [flags] NAME --url URL --events TYPE,...
                                       create a webhook subscription at runtime
  delete-webhook  [flags] --yes NAME   delete a webhook created at runtime, with its subscription

Exit codes: 0 ok, 1 error, 2 usage, 3 the daemon is busy, 4 refused (no such subscription,
or it is running), 5 unauthorized, 6 daemon unreachable.`

// cmdSubscriptions is `evhost subscriptions
// list|pause|resume|delete|add-webhook|delete-webhook`.
func cmdSubscriptions(ctx context.Context, args []string, e *env) int {
	return runGroup(ctx, args, e, "subscriptions", subscriptionsAbout, []command{
		{name: "list", run: cmdSubscriptionsList},
		{name: "pause", run: cmdSubscriptionsPause(true)},
		{name: "resume", run: cmdSubscriptionsPause(false)},
		{name: "delete", run: cmdSubscriptionsDelete},
		{name: "add-webhook", run: cmdAddWebhook},
		{name: "delete-webhook", run: cmdDeleteWebhook},
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
	var list struct{ Subscriptions []api.SubscriptionStatus }
	if code, done := getList(ctx, args, e, "subscriptions list",
		"List the subscriptions: NAME, KIND, STATE (running, paused, off: disabled in the config),\nPENDING (events held), OLDEST (the age of the oldest pending event, from the broker; \"!\"\nwhen the broker's retention is about to drop pending events, said on stderr), IN FLIGHT\n(being handled by this daemon), HANDLED, FAILED, DEAD (dead-lettered), RATE (the rate\nlimit shared by the daemons) and PATTERNS.",
		"/v1/subscriptions", "a list of subscriptions", &list); done {
		return code
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fprintf(tw, "NAME\tKIND\tSTATE\tPENDING\tOLDEST\tIN FLIGHT\tHANDLED\tFAILED\tDEAD\tRATE\tPATTERNS\n")
	var warnings []string
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
		oldest := "-"
		if s.OldestPendingSeconds > 0 {
			oldest = time.Duration(s.OldestPendingSeconds * float64(time.Second)).Round(time.Second).String()
		}
		if s.RetentionWarning != "" {
			oldest += " !"
			warnings = append(warnings, s.Name+": "+s.RetentionWarning)
		}
		fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", s.Name, s.Kind, state, pending, oldest, s.InFlight, s.Handled, s.Failed, s.DeadLettered, rate, jsonText(s.Patterns))
	}
	tw.Flush()
	for _, w := range warnings {
		fprintf(e.stderr, "warning: events are about to be lost: %s\n", w)
	}
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

// headerFlags is a repeated --header "Name: value" flag.
type headerFlags map[string]string

func (h headerFlags) String() string { return "" }

func (h headerFlags) Set(v string) error {
	name, val, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return errors.New(`want "Name: value"`)
	}
	h[strings.TrimSpace(name)] = strings.TrimSpace(val)
	return nil
}

func cmdAddWebhook(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "subscriptions add-webhook", "NAME --url URL --events TYPE,...",
		"Create the webhook subscription NAME at runtime: the events of the types and patterns of\n--events are posted to URL, signed per the Standard Webhooks specification, with the\n[defaults] delivery limits. It is kept by the broker and served by every daemon sharing it.\nWithout --secret or --secret-env the daemon makes a secret and prints it, this once.")
	df := addDaemonFlags(fs)
	u := fs.String("url", "", "the endpoint's http or https URL (required)")
	events := fs.String("events", "", "event types and patterns, separated by commas (required)")
	secret := fs.String("secret", "", "the whsec_ signing secret (seen by other users in the process list: prefer --secret-env)")
	secretEnv := fs.String("secret-env", "", "read the whsec_ signing secret from this environment variable (of this command)")
	timeout := fs.String("request-timeout", "", "bound one request (a duration such as 5s; default: [defaults] timeout)")
	filter := fs.String("filter", "", "a CEL filter expression over the event, as a webhook table's filter key")
	headers := headerFlags{}
	fs.Var(headers, "header", `an extra request header "Name: value" (repeatable)`)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 || *u == "" || *events == "" || *secret != "" && *secretEnv != "" {
		fs.Usage()
		return exitUsage
	}
	nw := api.NewWebhook{Name: fs.Arg(0), URL: *u, Secret: *secret, Timeout: *timeout, Filter: *filter}
	for _, t := range strings.Split(*events, ",") {
		if t = strings.TrimSpace(t); t != "" {
			nw.Events = append(nw.Events, t)
		}
	}
	if len(headers) > 0 {
		nw.Headers = headers
	}
	if *secretEnv != "" {
		if nw.Secret = os.Getenv(*secretEnv); nw.Secret == "" {
			fprintf(e.stderr, "evhost subscriptions add-webhook: --secret-env: $%s is empty or not set\n", *secretEnv)
			return exitUsage
		}
	}
	d, ok := df.client(e, fs, "evhost subscriptions add-webhook")
	if !ok {
		return exitError
	}
	body, _ := json.Marshal(nw)
	resp, out, code, ok := d.send(ctx, http.MethodPost, "/v1/admin/webhooks", "application/json", body)
	if !ok {
		return code
	}
	if resp.StatusCode != http.StatusCreated {
		return d.refused(nw.Name, resp, out)
	}
	var c api.CreatedWebhook
	if err := json.Unmarshal(out, &c); err != nil {
		fprintf(e.stderr, "evhost subscriptions add-webhook: the daemon's answer is not a webhook: %v\n", err)
		return exitError
	}
	fprintf(e.stdout, "created webhook %s: %s -> %s\n", c.Name, jsonText(c.Events), c.URL)
	if c.Secret != "" {
		fprintf(e.stdout, "signing secret (shown this once; the receiver verifies with it): %s\n", c.Secret)
	}
	if c.Warning != "" {
		fprintf(e.stderr, "warning: %s\n", c.Warning)
	}
	return exitOK
}

func cmdDeleteWebhook(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "subscriptions delete-webhook", "--yes NAME",
		"Delete the webhook NAME created at runtime (add-webhook) for every daemon, and its\nsubscription with the events it holds. The config's webhooks are changed in the config.")
	df := addDaemonFlags(fs)
	yes := fs.Bool("yes", false, "confirm: the events its subscription holds are lost")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	name := fs.Arg(0)
	if !*yes {
		fprintf(e.stderr, "evhost subscriptions delete-webhook: deleting %s drops the events its subscription holds; run again with --yes to confirm\n", name)
		return exitUsage
	}
	d, ok := df.client(e, fs, "evhost subscriptions delete-webhook")
	if !ok {
		return exitError
	}
	resp, body, code, ok := d.do(ctx, http.MethodDelete, "/v1/admin/webhooks/"+url.PathEscape(name))
	if !ok {
		return code
	}
	if resp.StatusCode != http.StatusOK {
		return d.refused(name, resp, body)
	}
	fprintf(e.stdout, "deleted webhook %s and its subscription\n", name)
	return exitOK
}
