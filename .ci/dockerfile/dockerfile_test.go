package dockerfile

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

const root = "../.."

// instruction is one instruction of a stage: its keyword and its text.
type instruction struct{ cmd, text string }

// TestDockerfile parses the Dockerfile with BuildKit's parser and checks
// the rules the image keeps.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the Dockerfile does not parse: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("parser warning: %s", w.Short)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatalf("the Dockerfile's instructions do not parse: %v", err)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a final one", len(stages))
	}
	if len(metaArgs) == 0 || metaArgs[0].Args[0].Key != "GO_VERSION" {
		t.Errorf("want ARG GO_VERSION before the first FROM")
	}
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if v := metaArgs[0].Args[0].Value; v == nil || !strings.Contains(string(goMod), "\ngo "+*v+"\n") {
		t.Errorf("ARG GO_VERSION is not go.mod's go version")
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(build.BaseName, "golang:") {
		t.Errorf("build stage FROM %s, want a golang image", build.BaseName)
	}
	if !strings.HasPrefix(final.BaseName, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %s, want distroless/static (CA certificates, no shell)", final.BaseName)
	}
	var got []instruction
	for _, c := range final.Commands {
		got = append(got, instruction{strings.ToLower(c.Name()), c.(interface{ String() string }).String()})
	}
	find := func(cmd string) []string {
		var out []string
		for _, i := range got {
			if i.cmd == cmd {
				out = append(out, i.text)
			}
		}
		return out
	}
	if u := find("user"); len(u) != 1 || strings.Contains(u[0], " 0") || strings.Contains(u[0], "root:") || strings.HasSuffix(u[0], "root") {
		t.Errorf("USER %v: want one non-root user", u)
	}
	if v := find("volume"); len(v) != 1 || !strings.Contains(v[0], "/data") {
		t.Errorf("VOLUME %v: want /data", v)
	}
	if hc := find("healthcheck"); len(hc) != 1 || !strings.Contains(hc[0], "evhost health") && !strings.Contains(hc[0], `"health"`) {
		t.Errorf("HEALTHCHECK %v: want the binary's own probe (evhost health)", hc)
	}
	if find("run") != nil {
		t.Errorf("the final stage runs commands: it has no shell")
	}
	cmd := strings.Join(find("cmd"), " ")
	if !strings.Contains(cmd, "/etc/evhost/config.toml") {
		t.Errorf("CMD %q: want run --config /etc/evhost/config.toml", cmd)
	}
	buildText := string(data)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "examples/container/config.toml"} {
		if !strings.Contains(buildText, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
}

// TestContainerConfig checks the image's config: it listens on every
// interface of the container, so it must require a token, which comes
// from the environment (the container refuses to start without it).
func TestContainerConfig(t *testing.T) {
	var c struct {
		Host struct {
			Listen   string `toml:"listen"`
			DataDir  string `toml:"data_dir"`
			Token    string `toml:"token"`
			TokenEnv string `toml:"token_env"`
		} `toml:"host"`
		Plugins map[string]struct {
			Path string `toml:"path"`
		} `toml:"plugins"`
	}
	if _, err := toml.DecodeFile(filepath.Join(root, "examples/container/config.toml"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Host.Listen != "0.0.0.0:8080" || c.Host.DataDir != "/data" {
		t.Errorf("listen %q, data_dir %q: want 0.0.0.0:8080 and /data", c.Host.Listen, c.Host.DataDir)
	}
	if c.Host.Token != "" || c.Host.TokenEnv != "EVHOST_TOKEN" {
		t.Errorf("want token_env = \"EVHOST_TOKEN\" and no inline token")
	}
	dockerfile, _ := os.ReadFile(filepath.Join(root, "Dockerfile"))
	var names []string
	for name, p := range c.Plugins {
		names = append(names, name)
		if !strings.HasSuffix(p.Path, ".wasm") || !strings.Contains(string(dockerfile), name) {
			t.Errorf("plugin %s: path %q: want a .wasm file the Dockerfile builds", name, p.Path)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		t.Errorf("no plugins")
	}
}
