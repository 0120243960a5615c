package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// `evhost replay` against a daemon on the embedded broker: it says before
// it starts whether emits will be published, replays a range, and a shadow
// replay of a changed module reports the differences with exit status 1.
func TestReplayCommand(t *testing.T) {
	t.Setenv("EVHOST_TOKEN", "")
	dir := t.TempDir()
	src, err := os.ReadFile("../../host/wasm/testdata/echo.wat")
	if err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, "echo.wasm")
	cand := filepath.Join(dir, "candidate.wasm")
	os.WriteFile(live, wasmbuild.WAT(t, string(src)), 0o644)
	os.WriteFile(cand, wasmbuild.WAT(t, string(bytes.ReplaceAll(src, []byte(`"echo.out`), []byte(`"echo.put`)))), 0o644)
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(
		"[host]\ndata_dir = \"data\"\n[plugins.echo]\npath = %q\nevents = [\"job.*\"]\n", live)))
	if err != nil {
		t.Fatal(err)
	}
	obs := make(outcomes, 64)
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveHost(t, h)
	ctx := context.Background()
	var seqs []uint64
	for i, d := range []string{"eone", "s0", "etwo"} {
		ack, err := h.Publish(ctx, &event.Event{Type: "job.run", ID: fmt.Sprintf("job-%d", i), DataContentType: "text/plain", Data: []byte(d)})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ack.Seq)
	}
	obs.want(t, 3, dispatch.Done)
	if err := h.FlushRuns(ctx); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI("replay", "--addr", addr, "echo")
	if code != exitOK || !strings.Contains(errOut, "ITS EMITS WILL BE PUBLISHED") ||
		!strings.Contains(out, "3 events") || !strings.Contains(out, "published 0, dropped as duplicates 2") {
		t.Errorf("replay: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, errOut = runCLI("replay", "--addr", addr, "--no-emit", "--from-seq", fmt.Sprint(seqs[1]), "echo")
	if code != exitOK || !strings.Contains(errOut, "without publishing") || !strings.Contains(out, "2 events") ||
		!strings.Contains(out, "not published (--no-emit)") {
		t.Errorf("replay --no-emit: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, errOut = runCLI("replay", "--addr", addr, "--shadow", live, "echo")
	if code != exitOK || !strings.Contains(errOut, "nothing will be published") || !strings.Contains(out, "3 same, 0 different") {
		t.Errorf("shadow of the live module: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, errOut = runCLI("replay", "--addr", addr, "--shadow", cand, "echo")
	if code != exitError || !strings.Contains(out, "1 same, 2 different") ||
		!strings.Contains(out, `emit 0: type: live "echo.out", candidate "echo.put"`) {
		t.Errorf("shadow of a candidate: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if code, _, errOut := runCLI("replay", "--addr", addr, "nope"); code != exitRejected || !strings.Contains(errOut, "no running plugin") {
		t.Errorf("unknown subscription: exit %d, stderr %s", code, errOut)
	}
	if code, _, _ := runCLI("replay", "--addr", addr, "--from-time", "yesterday", "echo"); code != exitUsage {
		t.Errorf("bad --from-time: exit %d, want %d", code, exitUsage)
	}
}
