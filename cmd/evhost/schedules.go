package main

import (
	"context"
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
	var list api.ScheduleList
	if code, done := getList(ctx, args, e, "schedules list",
		"List the schedules: NAME, TIMETABLE, TYPE, NEXT tick, LAST tick published, PUBLISHED\n(by this daemon), DUPLICATES (ticks another daemon published first), LAST ERROR.",
		"/v1/schedules", "a list of schedules", &list); done {
		return code
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
