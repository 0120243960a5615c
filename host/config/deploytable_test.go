package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeployTable(t *testing.T) {
	_, err := Parse("c.toml", []byte("[deploy]\npublic_keys = [\"MCowBQYDK2VwAyEAIL+XLQAA7EtvNzAh3EYhzWyUMXeNM0UQDzHUWqJj/AY=\", \"nope\"]\n"))
	if err == nil || !strings.Contains(err.Error(), "c.toml:2:80: deploy.public_keys[1]: invalid public key") {
		t.Fatalf("a bad public key: %v", err)
	}
	c, err := Parse("dir/c.toml", []byte("[deploy]\npublic_keys = [\"MCowBQYDK2VwAyEAIL+XLQAA7EtvNzAh3EYhzWyUMXeNM0UQDzHUWqJj/AY=\"]\nallow_env = [\"A\"]\nallow_files = [\"s/*\"]\n"))
	if err != nil || len(c.Deploy.PublicKeys) != 1 || c.Deploy.AllowFiles[0] != filepath.Join("dir", "s", "*") {
		t.Fatalf("%+v %v", c.Deploy, err)
	}
}

// A release reads only the variables and files of the daemon's policy.
func TestParseReleasePolicy(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "s"), 0o755)
	os.WriteFile(filepath.Join(dir, "s", "key"), []byte("v"), 0o600)
	os.WriteFile(filepath.Join(dir, "other"), []byte("v"), 0o600)
	t.Setenv("A", "a")
	t.Setenv("B", "b")
	policy := &ReleasePolicy{AllowEnv: []string{"A"}, AllowFiles: []string{filepath.Join(dir, "s", "*")}}
	plugin := "[plugins.p]\npath = \"p.wasm\"\nevents = [\"e\"]\n"
	for src, refused := range map[string]string{
		plugin + "config_env = { k = \"A\" }\n":                                                           "",
		plugin + "config_file = { k = \"s/key\" }\n":                                                      "",
		plugin + "config_env = { k = \"B\" }\n":                                                           "environment variable B is not in this daemon's [deploy] allow_env",
		plugin + "config_file = { k = \"other\" }\n":                                                      `file "other" is not in this daemon's [deploy] allow_files`,
		plugin + "config_file = { k = \"s/../other\" }\n":                                                 `file "s/../other" is not in`,
		"[[webhooks]]\nname = \"w\"\nevents = [\"e\"]\nurl = \"https://x.example\"\nsecret_env = \"B\"\n": "environment variable B is not",
	} {
		_, err := ParseRelease("release 1", dir, []byte(src), policy)
		switch {
		case refused == "" && err != nil:
			t.Errorf("%s: %v", src, err)
		case refused != "" && (err == nil || !strings.Contains(err.Error(), refused) || !errors.Is(err, ErrInvalid)):
			t.Errorf("%s: %v, want %q", src, err, refused)
		}
	}
}
