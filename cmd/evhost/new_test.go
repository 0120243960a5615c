package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/internal/scaffold"
)

// sources are the handler file of each language's scaffold, which the test
// edits.
var sources = map[string]string{"go": "main.go", "c": "handler.c", "rust": "src/lib.rs", "as": "assembly/handler.ts",
	"js": "src/handler.js", "ts": "src/handler.ts"}

// toolchain returns the environment and the skip message of a language's
// toolchain: empty when everything it needs is installed.
func toolchain(lang string) (env []string, missing string) {
	have := func(names ...string) bool {
		for _, n := range names {
			if _, err := exec.LookPath(n); err != nil {
				return false
			}
		}
		return true
	}
	clang := func() string {
		if !have("cc", "clang", "wasm-ld") {
			return "clang and lld not found: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32"
		}
		if _, err := os.Stat("/usr/lib/wasm32-wasi"); err != nil {
			if _, err := os.Stat("/usr/share/wasi-sysroot"); err != nil {
				return "wasi-libc not found: apt-get install wasi-libc libclang-rt-14-dev-wasm32"
			}
		}
		return ""
	}
	switch lang {
	case "c":
		return nil, clang()
	case "rust":
		if _, debian := scaffold.RustTarget(); debian {
			// Debian's toolchain: a rustup one first on PATH may lack the target.
			return []string{"PATH=/usr/bin:" + os.Getenv("PATH")}, ""
		}
		if !have("cargo") {
			return nil, "no Rust toolchain with a WASI target: apt-get install rustc cargo libstd-rust-dev-wasm32 (or rustup target add wasm32-wasip1)"
		}
	case "as", "js", "ts":
		if !have("node", "npm") {
			return nil, "node and npm not found: apt-get install nodejs npm (Node 20 or later)"
		}
		if lang != "as" {
			// evhost builds the JavaScript engine (QuickJS) with clang
			// when the binary does not embed it, as a test binary does not.
			return nil, clang()
		}
	}
	return nil, ""
}

// sh runs a command line in dir, as a user would type it.
func sh(t *testing.T, dir string, env []string, line string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s (in %s): %v\n%s", line, dir, err, out)
	}
	return string(out)
}

// evhost runs the CLI in process and returns its exit code, stdout and
// stderr.
func evhost(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// For each language: evhost new scaffolds a handler and adds it to a new
// config.toml; the handler's own unit test passes in its language's runner;
// evhost call, run from inside the handler's directory with no other
// set-up, builds it and prints its log line and its emit; and under evhost
// run, an edit that breaks the build is refused with the compiler's output
// in GET /v1/plugins, and the edit that fixes it is serving within seconds.
func TestNewHandler(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a handler in every language")
	}
	for _, lang := range scaffold.Langs {
		t.Run(lang, func(t *testing.T) {
			env, missing := toolchain(lang)
			if missing != "" {
				t.Skip(missing)
			}
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v) // the builds evhost runs see it too
			}
			root := t.TempDir()
			cfg := filepath.Join(root, "config.toml")
			name := "greeter-" + lang
			dir := filepath.Join(root, name)
			code, _, errOut := evhost("new", "--lang", lang, "--config", cfg, "--dir", dir, "--events", "greeting.requested,greeting.retried", name)
			if code != exitOK {
				t.Fatalf("new exited %d: %s", code, errOut)
			}
			readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := scaffold.New(scaffold.Options{Lang: lang, Name: name, Dir: t.TempDir(), ConfigDir: root})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(readme), res.Test) || !strings.Contains(string(readme), res.Build) {
				t.Fatalf("the README does not give the test command %q and the build command %q:\n%s", res.Test, res.Build, readme)
			}
			sh(t, dir, nil, res.Test)

			// evhost call from the handler's directory finds ../config.toml
			// and builds the handler first.
			t.Chdir(dir)
			code, out, errOut := evhost("call", name, "greeting.requested", `{"id":1}`)
			if code != exitOK {
				t.Fatalf("call exited %d:\n%s\n%s", code, out, errOut)
			}
			if !strings.Contains(errOut, "evhost: using ../config.toml") || !strings.Contains(errOut, `msg="`+name+` handled greeting.requested `) {
				t.Errorf("call's stderr does not name the config or has no log line of the handler:\n%s", errOut)
			}
			if !strings.Contains(out, `"type":"`+name+`.handled"`) || !strings.Contains(out, `"data":{"id":1}`) {
				t.Errorf("call's stdout has no emit of %s.handled:\n%s", name, out)
			}

			// evhost run: a broken edit is refused, a good one served.
			ctx, cancel := context.WithCancel(context.Background())
			var log syncBuffer
			done := make(chan int)
			go func() {
				done <- run(ctx, []string{"run", "--config", cfg, "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(root, "rundata")},
					strings.NewReader(""), &log, &log)
			}()
			defer func() {
				cancel()
				if code := <-done; code != exitOK {
					t.Errorf("run exited %d:\n%s", code, log.String())
				}
			}()
			addr := waitLog(t, &log, `msg="serving the HTTP API" addr=(\S+)`)[1]
			p1 := pluginInfo(t, addr, name)
			v1 := p1.Version
			if v1 == "" {
				t.Fatalf("no version for %s", name)
			}
			file := filepath.Join(dir, filepath.FromSlash(sources[lang]))
			good, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			edit(t, file, strings.ReplaceAll(string(good), name+".handled", name+".served")+"\n}}} not valid in any language\n")
			ref := waitPlugin(t, addr, name, func(p api.PluginInfo) bool { return p.LastRefusal != nil }, &log)
			if !strings.Contains(ref.LastRefusal.Error, "not valid") && !strings.Contains(ref.LastRefusal.Error, "error") {
				t.Errorf("the refusal does not show the compiler's output:\n%s", ref.LastRefusal.Error)
			}
			if ref.Version != v1 {
				t.Fatal("a broken build replaced the serving version")
			}
			start := time.Now()
			edit(t, file, strings.ReplaceAll(string(good), name+".handled", name+".served"))
			waitPlugin(t, addr, name, func(p api.PluginInfo) bool {
				if lang == "js" || lang == "ts" {
					// The engine's module is the same: a new handler is a
					// new version of its config, loaded anew.
					return p.LoadedAt.After(p1.LoadedAt) && p.Version == v1 && p.LastRefusal == nil
				}
				return p.Version != v1 && p.LastRefusal == nil
			}, &log)
			t.Logf("%s: the edit was serving %v after the save", lang, time.Since(start).Round(time.Millisecond))
		})
	}
}

// edit writes a source file as an editor saves it.
func edit(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pluginInfo returns GET /v1/plugins's entry of the plugin name.
func pluginInfo(t *testing.T, addr, name string) api.PluginInfo {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v1/plugins")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Plugins []api.PluginInfo }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	for _, p := range body.Plugins {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no plugin %s in GET /v1/plugins: %+v", name, body.Plugins)
	return api.PluginInfo{}
}

// waitPlugin polls GET /v1/plugins until the plugin's entry satisfies ok,
// failing after a bound that only a broken watcher or build reaches.
func waitPlugin(t *testing.T, addr, name string, ok func(api.PluginInfo) bool, log *syncBuffer) api.PluginInfo {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p := pluginInfo(t, addr, name)
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin %s never reached the state awaited: %+v\n%s", name, p, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// evhost new refuses a second plugin of the same name, and --print leaves
// the config alone.
func TestNewRefusesAndPrints(t *testing.T) {
	root := t.TempDir()
	cfg := filepath.Join(root, "config.toml")
	if err := os.WriteFile(cfg, []byte("# my config\n[plugins.a]\npath = \"a.wasm\"\nevents = [\"x\"]"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := evhost("new", "--lang", "c", "--config", cfg, "--dir", filepath.Join(root, "a"), "a")
	if code != exitError || !strings.Contains(errOut, `already has a plugin "a"`) {
		t.Fatalf("a second a: exit %d: %s", code, errOut)
	}
	code, out, errOut := evhost("new", "--lang", "rust", "--print", "--config", cfg, "--dir", filepath.Join(root, "b"), "b")
	if code != exitOK || !strings.HasPrefix(out, "# A Rust handler") || !strings.Contains(out, "[plugins.b]\n") {
		t.Fatalf("--print: exit %d: %s%s", code, out, errOut)
	}
	// Flags may follow the name, as in the usage line.
	code, out, errOut = evhost("new", "--lang", "ts", "b", "--print", "--events", "b.x", "--config", cfg, "--dir", filepath.Join(root, "b2"))
	if code != exitOK || !strings.Contains(out, "[plugins.b]\nengine = \"js\"\n") || !strings.Contains(out, `events = ["b.x"]`) {
		t.Fatalf("flags after the name: exit %d: %s%s", code, out, errOut)
	}
	code, _, errOut = evhost("new", "--lang", "go", "--config", cfg, "--dir", filepath.Join(root, "c"), "c")
	if code != exitOK {
		t.Fatalf("new c: exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.HasPrefix(s, "# my config\n") || strings.Contains(s, "[plugins.b]") || !strings.Contains(s, "events = [\"x\"]\n\n# A Go handler") {
		t.Fatalf("config after new:\n%s", s)
	}
	for _, bad := range [][]string{{"--lang", "cobol", "x"}, {"--lang", "go", "1x"}, {"--lang", "go", "evhost"}, {"x"}, {"--lang", "go", "x", "y"}} {
		if code, _, _ := evhost(append([]string{"new", "--config", cfg, "--dir", filepath.Join(root, "bad")}, bad...)...); code != exitUsage {
			t.Errorf("new %v: exit %d, want %d", bad, code, exitUsage)
		}
	}
}
