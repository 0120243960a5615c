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

// evhost subscriptions delete asks for --yes, refuses a running
// subscription, deletes a disabled plugin's, and then finds none.
func TestSubscriptionsDelete(t *testing.T) {
	dir := t.TempDir()
	bin := wasmbuild.WATFile(t, filepath.Join("..", "..", "host", "wasm", "testdata", "trivial.wat"))
	if err := os.WriteFile(filepath.Join(dir, "p.wasm"), bin, 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.toml")
	write := func(enabled string) {
		text := "[host]\ndata_dir = \"data\"\ntoken = \"s3cret\"\n[broker]\nkind = \"memory\"\n[plugins.p]\npath = \"p.wasm\"\nevents = [\"t\"]\nenabled = " + enabled + "\n"
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
	if code, stdout, stderr := runCLI(del...); code != exitOK || !strings.Contains(stdout, "deleted subscription p") {
		t.Fatalf("a disabled plugin's subscription: exit %d, %s %s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(del...); code != exitRejected || !strings.Contains(stderr, `no subscription "p"`) {
		t.Fatalf("deleted twice: exit %d, %s", code, stderr)
	}
}
