package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A plugin's build keys resolve against the config's directory; build_dir
// defaults to it.
func TestPluginBuild(t *testing.T) {
	c, err := ParseIn("config.toml", "/cfg", []byte(`
[plugins.a]
path = "a/out.wasm"
build = "make"
build_dir = "a"
watch = ["a/src", "/abs/Cargo.toml"]
build_timeout = "30s"
events = ["x"]

[plugins.b]
path = "b.wasm"
build = "cc -o b.wasm b.c"
events = ["x"]
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Plugin("a").Build, c.Plugin("b").Build
	if a.Command != "make" || a.ResolvedDir != filepath.Join("/cfg", "a") || a.Timeout != 30*time.Second ||
		!slices.Equal(a.ResolvedWatch, []string{filepath.Join("/cfg", "a", "src"), "/abs/Cargo.toml"}) {
		t.Errorf("a: %+v", a)
	}
	if b.ResolvedDir != "/cfg" || b.Timeout != 0 || b.Watch != nil {
		t.Errorf("b: %+v", b)
	}
}

// A release pins a built plugin to its digest and drops its build keys: the
// daemons run the module that evhost deploy built.
func TestReleaseDropsBuildKeys(t *testing.T) {
	src := []byte("[plugins.a]\npath = \"a.wasm\"\nbuild = \"make\"\nwatch = [\"src\"]\nevents = [\"x\"]\n")
	digest := strings.Repeat("ab", 32)
	text, err := ReleaseText(src, map[string]string{"a": digest})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("release.toml", text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if p := c.Plugin("a"); p.Digest != digest || p.Build.Command != "" || p.Build.Watch != nil {
		t.Fatalf("%+v", p)
	}
}
