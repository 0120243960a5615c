package main

import (
	"context"
	"net/http"
	"net/url"
)

const subscriptionsAbout = `A subscription is the durable queue of a plugin or a webhook: it holds the events
of its types until they are handled. Disabling or removing a plugin or webhook in the
config stops its handler but keeps its subscription: the events go on queueing (up to
its limits), and once it is enabled again it handles what arrived meanwhile. Deleting
the subscription is the explicit act that drops them. Talks to a running daemon over its
admin API (/v1/admin/subscriptions).

Subcommands:
  delete  [flags] --yes NAME   delete the subscription NAME (not running) and the events it holds

Exit codes: 0 ok, 1 error, 2 usage, 4 refused (no such subscription, or it is running),
5 unauthorized, 6 daemon unreachable.`

// cmdSubscriptions is `evhost subscriptions delete`.
func cmdSubscriptions(ctx context.Context, args []string, e *env) int {
	return runGroup(ctx, args, e, "subscriptions", subscriptionsAbout, []command{
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
