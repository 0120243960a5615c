package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/config"
)

// `evhost schedules list` against a daemon: a table with the next tick of
// each schedule, a disabled one said so, and the API's JSON with --json.
func TestSchedulesCommand(t *testing.T) {
	t.Setenv("EVHOST_TOKEN", "")
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(`
[host]
data_dir = "data"
token = "s3cret"
[[schedules]]
name = "nightly"
cron = "30 2 * * *"
timezone = "Europe/Paris"
type = "report.requested"
[[schedules]]
name = "off"
every = "1m"
type = "x"
enabled = false
`))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Bus: membus.New(membus.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveHost(t, h)
	daemon := []string{"--addr", addr, "--token", "s3cret"}
	code, out, errOut := runCLI(append([]string{"schedules", "list"}, daemon...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		`(?m)^NAME\s+TIMETABLE\s+TYPE\s+NEXT\s+LAST\s+PUBLISHED\s+DUPLICATES\s+LAST ERROR$`,
		`(?m)^nightly\s+30 2 \* \* \* \(Europe/Paris\)\s+report\.requested\s+\d{4}-\d\d-\d\dT0[01]:30:00Z\s+-\s+0\s+0\s+-$`,
		`(?m)^off\s+every 1m0s\s+x\s+off \(config\)`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("the table lacks %s:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(append([]string{"schedules", "list", "--json"}, daemon...)...)
	var list api.ScheduleList
	if code != exitOK || json.Unmarshal([]byte(out), &list) != nil || len(list.Schedules) != 2 || list.Schedules[0].Next == nil {
		t.Errorf("--json: exit %d, %s", code, out)
	}
	if code, _, _ := runCLI(append([]string{"schedules", "list"}, "--addr", addr, "--token", "wrong")...); code != exitAuth {
		t.Errorf("a wrong token: exit %d", code)
	}
}
