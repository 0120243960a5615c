package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// `evhost config` on the repository's config.toml prints every default,
// in TOML and JSON.
func TestConfigCommandReference(t *testing.T) {
	code, out, errOut := runCLI("config", "--config", "../../config.toml")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"[host]\nlisten = \"127.0.0.1:8080\"", "\n[defaults]\ntimeout = \"5s\"", "\n[plugins.audit]\n", "events = [\">\"]"} {
		if !strings.Contains(out, want) {
			t.Errorf("evhost config lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = runCLI("config", "--json", "--config", "../../config.toml")
	var doc struct {
		Broker map[string]any `json:"broker"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &doc) != nil || doc.Broker["kind"] != "embedded" {
		t.Fatalf("evhost config --json: exit %d: %s %s", code, out, errOut)
	}
	if code, _, errOut := runCLI("config", "--config", "no-such.toml"); code != exitError || !strings.Contains(errOut, "no-such.toml") {
		t.Errorf("a missing config: exit %d: %s", code, errOut)
	}
}

// `evhost config` on a config with secrets prints none of them, and names
// where each one read from the environment or a file comes from.
func TestConfigCommandSecrets(t *testing.T) {
	dir := t.TempDir()
	const envToken, fileToken, inline, hook = "env-secret-value-1", "file-secret-value-2", "inline-secret-value-3", "hook-secret-value-4"
	t.Setenv("EVHOST_TEST_OPS_TOKEN", envToken)
	if err := os.WriteFile(filepath.Join(dir, "ci.token"), []byte(fileToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(`
[host]
token = "`+inline+`"
tokens = [{ name = "ops", token_env = "EVHOST_TEST_OPS_TOKEN", scopes = ["admin"] },
          { name = "ci", token_file = "ci.token", scopes = ["read"] }]
[[webhooks]]
name = "crm"
events = ["user.created"]
url = "https://crm.example.com/hooks?key=`+hook+`"
secret = "whsec_aW5saW5lLXNlY3JldC12YWx1ZS0z"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"config", "--config", cfg}, {"config", "--json", "--config", cfg}} {
		code, out, errOut := runCLI(args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		for _, s := range []string{envToken, fileToken, inline, hook, "whsec_aW5s"} {
			if strings.Contains(out, s) {
				t.Errorf("%v prints the secret %q:\n%s", args, s, out)
			}
		}
		for _, want := range []string{"EVHOST_TEST_OPS_TOKEN", filepath.Join(dir, "ci.token"), "[redacted]"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v does not name %q:\n%s", args, want, out)
			}
		}
	}
}

// The container image's config listens on every interface, and so
// refuses to load without the token in EVHOST_TOKEN, saying where.
func TestContainerConfigNeedsToken(t *testing.T) {
	const file = "../../examples/container/config.toml"
	os.Unsetenv("EVHOST_TOKEN")
	_, err := config.Load(file)
	if err == nil || !strings.Contains(err.Error(), "environment variable EVHOST_TOKEN is not set") ||
		!strings.Contains(err.Error(), "config.toml:15:") {
		t.Fatalf("without EVHOST_TOKEN: %v", err)
	}
	t.Setenv("EVHOST_TOKEN", "a-container-token")
	c, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if c.Host.Listen != "0.0.0.0:8080" || c.Host.Data() != "/data" || len(c.Plugins) != 4 {
		t.Errorf("listen %s, data %s, %d plugins", c.Host.Listen, c.Host.Data(), len(c.Plugins))
	}
}

// `evhost plugins inspect` on a Go reactor, a WAT reactor that imports
// kv, a module that speaks another ABI version, and a file that is not
// wasm.
func TestPluginsInspect(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goWasm := handledWasm(t)
	code, out, errOut := runCLI("plugins", "inspect", goWasm)
	if code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, out, errOut)
	}
	for _, want := range []string{"kind     reactor", "abi      v1", "grants   none", "evhost_handle (i32, i32) -> (i32)",
		"evhost.config_get", "wasi_snapshot_preview1.", "load     ok", "sha256   "} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect of the Go plugin lacks %q:\n%s", want, out)
		}
	}

	kv := write("kv.wasm", wasmbuild.WATFile(t, "../../host/wasm/testdata/kvimport.wat"))
	code, out, _ = runCLI("plugins", "inspect", "--json", kv)
	var info struct {
		Kind    string   `json:"kind"`
		ABI     int      `json:"abi_version"`
		Grants  []string `json:"grants"`
		Refused string   `json:"refused"`
		SHA256  string   `json:"sha256"`
		Imports []struct {
			Module, Name, Grant string
		} `json:"imports"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if code != exitOK || info.Kind != "reactor" || info.ABI != 1 || len(info.Grants) != 1 || info.Grants[0] != "kv = true" || info.Refused != "" || len(info.SHA256) != 64 {
		t.Errorf("inspect of kvimport: exit %d, %+v", code, info)
	}

	bad := write("badabi.wasm", wasmbuild.WATFile(t, "../../host/wasm/testdata/badabi.wat"))
	code, out, _ = runCLI("plugins", "inspect", bad)
	if code != exitError || !strings.Contains(out, "abi      v2") || !strings.Contains(out, "load     refused: module speaks ABI version 2") {
		t.Errorf("inspect of badabi: exit %d:\n%s", code, out)
	}

	junk := write("junk.wasm", []byte("not wasm at all"))
	if code, _, errOut := runCLI("plugins", "inspect", junk); code != exitError || !strings.Contains(errOut, "not a valid WebAssembly module") {
		t.Errorf("inspect of junk: exit %d: %s", code, errOut)
	}
	if code, _, _ := runCLI("plugins", "inspect"); code != exitUsage {
		t.Errorf("inspect without a file: exit %d", code)
	}
}

// `evhost plugins list` and `evhost health` against a running daemon.
func TestPluginsListAndHealth(t *testing.T) {
	dir := t.TempDir()
	echo := filepath.Join(dir, "echo.wasm")
	if err := os.WriteFile(echo, wasmbuild.WATFile(t, "../../host/wasm/testdata/echo.wat"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(
		"[host]\ndata_dir = \"data\"\ntoken = \"s3cret\"\nshutdown_timeout = \"200ms\"\n[broker]\nkind = \"memory\"\n"+
			"[plugins.echo]\npath = %q\nevents = [\"order.placed\"]\n", echo)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveHost(t, h)
	code, out, errOut := runCLI("plugins", "list", "--addr", addr, "--token", "s3cret")
	if code != exitOK || !strings.Contains(out, "PLUGIN") || !strings.Contains(out, "echo    serving  reactor  "+h.Plugin("echo").Hash()[:12]) {
		t.Errorf("plugins list: exit %d: %s %s", code, out, errOut)
	}
	if code, _, errOut := runCLI("plugins", "list", "--addr", addr, "--token", "wrong"); code != exitAuth {
		t.Errorf("plugins list with a wrong token: exit %d: %s", code, errOut)
	}
	if code, out, errOut := runCLI("health", "--addr", addr); code != exitOK || out != "ok\n" {
		t.Errorf("health: exit %d: %s %s", code, out, errOut)
	}
	if code, out, errOut := runCLI("health", "--ready", "--addr", addr); code != exitOK || out != "ok\n" {
		t.Errorf("health --ready: exit %d: %s %s", code, out, errOut)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if code, _, errOut := runCLI("health", "--addr", closed); code != exitUnreachble {
		t.Errorf("health of nothing: exit %d: %s", code, errOut)
	}
	if got := loopbackBase("http://0.0.0.0:8080"); got != "http://127.0.0.1:8080" {
		t.Errorf("loopbackBase: %s", got)
	}
}

// `evhost version` names the versions built in; a work-tree build has no
// stamped commit.
func TestVersionDetails(t *testing.T) {
	code, out, _ := runCLI("version", "--json")
	var v struct {
		Version, Go, Wazero string
		NATS                string `json:"nats_server"`
		ABI                 int    `json:"plugin_abi"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("exit %d: %s", code, out)
	}
	if v.Version == "" || !strings.HasPrefix(v.Go, "go1.") || !strings.HasPrefix(v.Wazero, "v1.") || !strings.HasPrefix(v.NATS, "v2.") || v.ABI != 1 {
		t.Errorf("version --json: %s", out)
	}
	code, out, _ = runCLI("version")
	if code != exitOK || !strings.Contains(out, "wazero      "+v.Wazero) || !strings.Contains(out, "nats-server "+v.NATS) {
		t.Errorf("version: %s", out)
	}
}
