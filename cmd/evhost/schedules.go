package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/evhost/evhost/host/api"
)

const schedulesAbout = `Schedules are the [[schedules]] of the config: events published on a timetable (cron
or every), one per tick however many daemons run. Talks to a running daemon over its
API (/v1/schedules).

Subcommands:
  list  [flags]  a table of the schedules: next and last tick, counts, last error
                 (--json: the API's JSON)

Exit codes: 0 ok, 1 error, 2 usage, 3 the daemon is busy, 5 unauthorized,
6 daemon unreachable.`

// cmdSchedules is `evhost schedules list`.
func cmdSchedules(ctx context.Context, args []string, e *env) int {
	return runGroup(ctx, args, e, "schedules", schedulesAbout, []command{{name: "list", run: cmdSchedulesList}})
}

func cmdSchedulesList(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "schedules list", "",
		"List the schedules: NAME, TIMETABLE, TYPE, NEXT tick, LAST tick published, PUBLISHED\n(by this daemon), DUPLICATES (ticks another daemon published first), LAST ERROR.")
	df := addDaemonFlags(fs)
	asJSON := fs.Bool("json", false, "print the API's JSON instead of a table")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return exitUsage
	}
	d, ok := df.client(e, fs, "evhost schedules list")
	if !ok {
		return exitError
	}
	resp, body, code, ok := d.do(ctx, http.MethodGet, "/v1/schedules")
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
	var list api.ScheduleList
	if err := json.Unmarshal(body, &list); err != nil {
		fprintf(e.stderr, "evhost schedules list: the daemon's answer is not a list of schedules: %v\n", err)
		return exitError
	}
	if len(list.Schedules) == 0 {
		fprintf(e.stderr, "no schedules\n")
		return exitOK
	}
	at := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fprintf(tw, "NAME\tTIMETABLE\tTYPE\tNEXT\tLAST\tPUBLISHED\tDUPLICATES\tLAST ERROR\n")
	for _, s := range list.Schedules {
		tt := "every " + s.Every
		if s.Cron != "" {
			tt = s.Cron
			if s.Timezone != "" {
				tt += " (" + s.Timezone + ")"
			}
		}
		next := at(s.Next)
		if !s.Enabled {
			next = "off (config)"
		}
		lastErr := "-"
		if s.LastError != "" {
			lastErr = at(s.LastErrorTime) + ": " + oneLine(s.LastError, 60)
		}
		fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", oneLine(s.Name, 64), oneLine(tt, 40), oneLine(s.Type, 60), next, at(s.Last),
			strconv.FormatUint(s.Produced, 10), strconv.FormatUint(s.Duplicates, 10), lastErr)
	}
	tw.Flush()
	return exitOK
}
