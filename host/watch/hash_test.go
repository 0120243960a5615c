package watch_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/evhost/evhost/host/watch"
)

func TestGoSource(t *testing.T) {
	for name, want := range map[string]bool{
		"main.go":             true,
		"internal/rules/r.go": true,
		"go.mod":              true,
		"go.sum":              true,
		"sub/go.mod":          true,
		"main_test.go":        false,
		"sub/x_test.go":       false,
		".main.go":            false,
		"_gen.go":             false,
		"main.go~":            false,
		"main.go.swp":         false,
		"README.md":           false,
		"go.work":             false,
		"4913":                false, // vim's probe file
	} {
		if got := watch.GoSource(name); got != want {
			t.Errorf("GoSource(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestHashFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plugin.wasm")
	write(t, path, "\x00asm")
	h, err := watch.Hash(watch.Target{Path: path})
	must(t, err)
	if want := watch.HashBytes([]byte("\x00asm")); h != want {
		t.Errorf("Hash = %s, want HashBytes = %s", h, want)
	}
	if want := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; watch.HashBytes(nil) != want {
		t.Errorf("HashBytes(nil) = %s, want the SHA-256 of nothing", watch.HashBytes(nil))
	}
	_, err = watch.Hash(watch.Target{Path: path + ".missing"})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Hash of a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestHashDir(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "go.mod"), "module example.com/audit\n")
	write(t, filepath.Join(src, "main.go"), "package main\n")
	write(t, filepath.Join(src, "rules", "rules.go"), "package rules\n")
	target := watch.Target{Path: src, Dir: true}
	hash := func() string {
		t.Helper()
		h, err := watch.Hash(target)
		must(t, err)
		return h
	}
	base := hash()

	// What does not count.
	write(t, filepath.Join(src, "main_test.go"), "package main\n")
	write(t, filepath.Join(src, "testdata", "x.go"), "package x\n")
	write(t, filepath.Join(src, "rules", "testdata", "in.json"), "{}")
	write(t, filepath.Join(src, ".git", "x.go"), "package x\n")
	write(t, filepath.Join(src, "_old", "x.go"), "package x\n")
	write(t, filepath.Join(src, "notes.txt"), "notes")
	later := time.Now().Add(time.Hour)
	must(t, os.Chtimes(filepath.Join(src, "main.go"), later, later))
	if h := hash(); h != base {
		t.Fatal("the hash changed with files that do not count, or with a modification time")
	}

	// What does: content, names, new files, a file linked in.
	must(t, os.Rename(filepath.Join(src, "rules", "rules.go"), filepath.Join(src, "rules", "r.go")))
	renamed := hash()
	if renamed == base {
		t.Error("renaming a file did not change the hash")
	}
	write(t, filepath.Join(src, "go.sum"), "")
	if hash() == renamed {
		t.Error("adding go.sum did not change the hash")
	}

	// A link to the directory hashes as the directory.
	link := filepath.Join(t.TempDir(), "audit")
	must(t, os.Symlink(src, link))
	viaLink, err := watch.Hash(watch.Target{Path: link, Dir: true})
	must(t, err)
	if viaLink != hash() {
		t.Error("a link to the directory does not hash as the directory")
	}

	// A custom filter.
	onlyMod, err := watch.Hash(watch.Target{Path: src, Dir: true, Filter: func(name string) bool { return name == "go.mod" }})
	must(t, err)
	write(t, filepath.Join(src, "main.go"), "package main\n\nfunc main() {}\n")
	again, err := watch.Hash(watch.Target{Path: src, Dir: true, Filter: func(name string) bool { return name == "go.mod" }})
	must(t, err)
	if again != onlyMod {
		t.Error("a file the filter leaves out changed the hash")
	}

	_, err = watch.Hash(watch.Target{Path: filepath.Join(src, "missing"), Dir: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Hash of a missing directory: %v, want fs.ErrNotExist", err)
	}
	if _, err := watch.Hash(watch.Target{Path: filepath.Join(src, "main.go"), Dir: true}); err == nil {
		t.Error("Hash of a file as a directory target succeeded")
	}
}
