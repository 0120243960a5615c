package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/evhost/evhost/host/api"
)

const webhooksAbout = `Webhooks are the [[webhooks]] endpoints that events are posted to, signed per the
Standard Webhooks specification, and those created at runtime ('evhost subscriptions
add-webhook', listed with SOURCE api). An endpoint that answers 410 Gone is disabled: its
events are dead-lettered until it is enabled again (then retry them with 'evhost dlq').
Talks to a running daemon over its API (/v1/webhooks, /v1/admin/webhooks).

Subcommands:
  list        [flags]        a table of the webhooks and their state (--json: the API's JSON)
  enable      [flags] NAME   enable an endpoint a 410 disabled
  deliveries  [flags] NAME   the delivery log: one line per attempt, oldest first

Exit codes: 0 ok, 1 error, 2 usage, 3 the daemon is busy, 4 refused (no such webhook),
5 unauthorized, 6 daemon unreachable.`

// cmdWebhooks is `evhost webhooks list|enable|deliveries`.
func cmdWebhooks(ctx context.Context, args []string, e *env) int {
	return runGroup(ctx, args, e, "webhooks", webhooksAbout, []command{
		{name: "list", run: cmdWebhooksList}, {name: "enable", run: cmdWebhooksEnable}, {name: "deliveries", run: cmdWebhooksDeliveries},
	})
}

func cmdWebhooksList(ctx context.Context, args []string, e *env) int {
	var list struct{ Webhooks []api.WebhookInfo }
	if code, done := getList(ctx, args, e, "webhooks list",
		"List the webhooks: NAME, SOURCE (config, or api: created at runtime), STATE (active,\ndisabled since a 410, or off in the config), EVENTS and URL.",
		"/v1/webhooks", "a list of webhooks", &list); done {
		return code
	}
	if len(list.Webhooks) == 0 {
		fprintf(e.stderr, "no webhooks\n")
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fprintf(tw, "NAME\tSOURCE\tSTATE\tEVENTS\tURL\n")
	for _, w := range list.Webhooks {
		state := "active"
		switch {
		case !w.Enabled:
			state = "off (config)"
		case w.Disabled:
			state = "disabled since " + w.DisabledSince.UTC().Format(time.RFC3339) + ": " + oneLine(w.DisabledReason, 60)
		}
		fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", w.Name, w.Source, state, jsonText(w.Events), w.URL)
	}
	tw.Flush()
	return exitOK
}

func cmdWebhooksEnable(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "webhooks enable", "NAME", "Enable the endpoint NAME that a 410 Gone answer disabled.")
	df := addDaemonFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	name := fs.Arg(0)
	d, ok := df.client(e, fs, "evhost webhooks enable")
	if !ok {
		return exitError
	}
	resp, body, code, ok := d.do(ctx, http.MethodPost, "/v1/admin/webhooks/"+url.PathEscape(name)+"/enable")
	if !ok {
		return code
	}
	if resp.StatusCode != http.StatusOK {
		return d.refused(name, resp, body)
	}
	var r struct {
		WasDisabled bool `json:"was_disabled"`
	}
	json.Unmarshal(body, &r)
	if r.WasDisabled {
		fprintf(e.stdout, "enabled %s\n", name)
	} else {
		fprintf(e.stdout, "%s was not disabled\n", name)
	}
	return exitOK
}

func cmdWebhooksDeliveries(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "webhooks deliveries", "NAME",
		"The delivery log of the webhook NAME, oldest first: SEQ, TIME (UTC), EVENT ID, ATTEMPT,\nOUTCOME, HTTP status, LATENCY and ERROR, or with --json one attempt per line.")
	df := addDaemonFlags(fs)
	after := fs.Uint64("after", 0, "only the attempts with a SEQ greater than this")
	limit := fs.Int("limit", 100, "list at most this many (1 to 1000)")
	asJSON := fs.Bool("json", false, "print JSON lines instead of a table")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 || *limit < 1 || *limit > api.MaxDeliveryPage {
		fs.Usage()
		return exitUsage
	}
	name := fs.Arg(0)
	d, ok := df.client(e, fs, "evhost webhooks deliveries")
	if !ok {
		return exitError
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if *after > 0 {
		q.Set("after", strconv.FormatUint(*after, 10))
	}
	resp, body, code, ok := d.do(ctx, http.MethodGet, "/v1/webhooks/"+url.PathEscape(name)+"/deliveries?"+q.Encode())
	if !ok {
		return code
	}
	if resp.StatusCode != http.StatusOK {
		return d.refused(name, resp, body)
	}
	var p api.DeliveryPage
	if err := json.Unmarshal(body, &p); err != nil {
		fprintf(e.stderr, "evhost webhooks deliveries: the daemon's answer is not a page of deliveries: %v\n", err)
		return exitError
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if !*asJSON {
		if len(p.Deliveries) == 0 {
			fprintf(e.stderr, "no deliveries\n")
			return exitOK
		}
		fprintf(tw, "SEQ\tTIME\tEVENT ID\tATTEMPT\tOUTCOME\tHTTP\tLATENCY\tERROR\n")
	}
	for _, dv := range p.Deliveries {
		if *asJSON {
			line, _ := json.Marshal(dv)
			e.stdout.Write(append(line, '\n'))
			continue
		}
		status := "-"
		if dv.HTTPStatus != 0 {
			status = strconv.Itoa(dv.HTTPStatus)
		}
		latency := time.Duration(dv.LatencyMS * float64(time.Millisecond)).Round(time.Millisecond)
		fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", dv.Seq, dv.Start.UTC().Format(time.RFC3339), oneLine(dv.EventID, 40),
			dv.Attempt, dv.Outcome, status, latency, oneLine(dv.Error, 80))
	}
	tw.Flush()
	if p.NextAfter != 0 {
		fprintf(e.stderr, "evhost webhooks deliveries: more after SEQ %d: add --after %d\n", p.NextAfter, p.NextAfter)
	}
	return exitOK
}
