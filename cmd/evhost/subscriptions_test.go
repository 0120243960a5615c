package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// evhost subscriptions: list shows each subscription's state; pause and
// resume change it; delete asks for --yes, refuses a running subscription,
// deletes a disabled plugin's, and then finds none.
func TestSubscriptionsCommands(t *testing.T) {
	dir := t.TempDir()
	bin := wasmbuild.WATFile(t, filepath.Join("..", "..", "host", "wasm", "testdata", "trivial.wat"))
	if err := os.WriteFile(filepath.Join(dir, "p.wasm"), bin, 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.toml")
	write := func(enabled string) {
		text := "[host]\ndata_dir = \"data\"\ntoken = \"s3cret\"\n[broker]\nkind = \"memory\"\n[plugins.p]\npath = \"p.wasm\"\nevents = [\"t\"]\nrate = \"6000/m\"\nenabled = " + enabled + "\n"
		if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("true")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveHost(t, h)
	flags := []string{"--addr", addr, "--token", "s3cret", "--config", ""}

	list := func() string {
		t.Helper()
		code, stdout, stderr := runCLI(append([]string{"subscriptions", "list"}, flags...)...)
		if code != exitOK {
			t.Fatalf("list: exit %d, %s", code, stderr)
		}
		return stdout
	}
	row := func(out string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "p ") {
				return strings.Join(strings.Fields(l), " ")
			}
		}
		t.Fatalf("no row of p in:\n%s", out)
		return ""
	}
	if got := row(list()); !strings.HasPrefix(got, "p plugin running 0 ") || !strings.HasSuffix(got, ` 6000/m ["t"]`) {
		t.Fatalf("list: %q", got)
	}
	if code, stdout, stderr := runCLI(append([]string{"subscriptions", "pause"}, append(flags, "p")...)...); code != exitOK || !strings.Contains(stdout, "paused subscription p") {
		t.Fatalf("pause: exit %d, %s %s", code, stdout, stderr)
	}
	if got := row(list()); !strings.HasPrefix(got, "p plugin paused ") {
		t.Fatalf("list after pause: %q", got)
	}
	if code, _, stderr := runCLI(append([]string{"subscriptions", "resume"}, append(flags, "p")...)...); code != exitOK {
		t.Fatalf("resume: exit %d, %s", code, stderr)
	}
	if got := row(list()); !strings.HasPrefix(got, "p plugin running ") {
		t.Fatalf("list after resume: %q", got)
	}
	if code, _, stderr := runCLI(append([]string{"subscriptions", "pause"}, append(flags, "nosuch")...)...); code != exitRejected || !strings.Contains(stderr, `no subscription "nosuch"`) {
		t.Fatalf("pause of no subscription: exit %d, %s", code, stderr)
	}

	if code, _, stderr := runCLI(append([]string{"subscriptions", "delete"}, append(flags, "p")...)...); code != exitUsage || !strings.Contains(stderr, "--yes") {
		t.Fatalf("without --yes: exit %d, %s", code, stderr)
	}
	del := append([]string{"subscriptions", "delete", "--yes"}, append(flags, "p")...)
	if code, _, stderr := runCLI(del...); code != exitRejected || !strings.Contains(stderr, "running") {
		t.Fatalf("a running subscription: exit %d, %s", code, stderr)
	}
	write("false")
	if err := h.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := row(list()); !strings.HasPrefix(got, "p plugin off ") {
		t.Fatalf("list of a disabled plugin: %q", got)
	}
	if code, stdout, stderr := runCLI(del...); code != exitOK || !strings.Contains(stdout, "deleted subscription p") {
		t.Fatalf("a disabled plugin's subscription: exit %d, %s %s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(del...); code != exitRejected || !strings.Contains(stderr, `no subscription "p"`) {
		t.Fatalf("deleted twice: exit %d, %s", code, stderr)
	}
}
