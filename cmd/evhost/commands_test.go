package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// A relative --data-dir is taken against the working directory and handed
// to the host absolute, like the config's own data_dir: the host builds Go
// plugins from their own directory, where a relative path means another
// place.
func TestRelativeDataDirFlag(t *testing.T) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	cf := addConfigFlags(fs)
	if err := fs.Parse([]string{"--config", "../../config.toml", "--data-dir", "data/d1"}); err != nil {
		t.Fatal(err)
	}
	cfg, ok := cf.load(&env{stderr: io.Discard})
	if !ok {
		t.Fatal("the config did not load")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(wd, "data", "d1"); cfg.Host.ResolvedDataDir != want {
		t.Fatalf("resolved data dir %q, want %q", cfg.Host.ResolvedDataDir, want)
	}
}
