package watch_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/watch"
)

// testDebounce is short so that the tests run in seconds; failAfter is how
// long a test waits for a change that must come before it fails.
const (
	testDebounce = 30 * time.Millisecond
	failAfter    = 10 * time.Second
)

// fixture is a started watcher plus a barrier: a second watched file that
// the tests change to prove that nothing was reported before it.
type fixture struct {
	t       *testing.T
	w       *watch.Watcher
	barrier string
	n       int
}

func start(t *testing.T, debounce time.Duration, targets ...watch.Target) *fixture {
	t.Helper()
	barrier := filepath.Join(t.TempDir(), "barrier")
	write(t, barrier, "barrier 0")
	w, err := watch.New(watch.Options{
		Debounce: debounce,
		Logger:   slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	f := &fixture{t: t, w: w, barrier: barrier}
	f.set(targets...)
	return f
}

// set replaces the watched targets, keeping the barrier.
func (f *fixture) set(targets ...watch.Target) {
	f.t.Helper()
	if err := f.w.Set(append(targets, watch.Target{Path: f.barrier})); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) next() watch.Change {
	f.t.Helper()
	select {
	case c, ok := <-f.w.Changes():
		if !ok {
			f.t.Fatal("Changes was closed")
		}
		return c
	case <-time.After(failAfter):
		f.t.Fatalf("no change within %v", failAfter)
		return watch.Change{}
	}
}

// want receives the next change and checks that it reports content for path.
func (f *fixture) want(path, content string) {
	f.t.Helper()
	f.wantHash(path, watch.HashBytes([]byte(content)))
}

func (f *fixture) wantHash(path, hash string) {
	f.t.Helper()
	c := f.next()
	if c != (watch.Change{Path: path, Hash: hash}) {
		f.t.Fatalf("got change %+v, want %s with hash %.12s", c, path, hash)
	}
}

func (f *fixture) wantRemoved(path string) {
	f.t.Helper()
	if c := f.next(); c != (watch.Change{Path: path, Removed: true}) {
		f.t.Fatalf("got change %+v, want %s removed", c, path)
	}
}

// quiet proves that nothing was reported since the last change received:
// it changes the barrier file and checks that the next change is that one.
func (f *fixture) quiet() {
	f.t.Helper()
	f.n++
	content := fmt.Sprintf("barrier %d", f.n)
	write(f.t, f.barrier, content)
	f.want(f.barrier, content)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestSaves covers each common way of saving a file: exactly one change,
// with the final content.
func TestSaves(t *testing.T) {
	long := strings.Repeat("[[plugins]]\nname = \"audit\"\n", 20)
	saves := []struct {
		name string
		save func(t *testing.T, path, content string)
		// gap: the file is missing for a moment, so a Removed change may
		// come first if the saver pauses there for longer than the
		// debounce.
		gap bool
	}{
		{"write in place", func(t *testing.T, path, content string) {
			// os.WriteFile: open O_TRUNC, one write.
			write(t, path, content)
		}, false},
		{"write a temp file and rename over", func(t *testing.T, path, content string) {
			write(t, path+".tmp", content)
			must(t, os.Rename(path+".tmp", path))
		}, false},
		{"rename to a backup and write anew", func(t *testing.T, path, content string) {
			// vim with backupcopy=no.
			must(t, os.Rename(path, path+"~"))
			write(t, path, content)
			must(t, os.Remove(path+"~"))
		}, true},
		{"delete and create again", func(t *testing.T, path, content string) {
			must(t, os.Remove(path))
			write(t, path, content)
		}, true},
		{"cp over", func(t *testing.T, path, content string) {
			cp, err := exec.LookPath("cp")
			if err != nil {
				t.Skip("no cp command on $PATH; the copy in chunks case covers the same writes")
			}
			src := filepath.Join(t.TempDir(), "new.toml")
			write(t, src, content)
			if out, err := exec.Command(cp, src, path).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v: %s", err, out)
			}
		}, false},
		{"copy in chunks", func(t *testing.T, path, content string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
			must(t, err)
			// The struct hides the reader's WriteTo, so that every 16 bytes
			// is its own write.
			_, err = io.CopyBuffer(f, struct{ io.Reader }{strings.NewReader(content)}, make([]byte, 16))
			must(t, err)
			must(t, f.Close())
		}, false},
	}
	for _, s := range saves {
		t.Run(s.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.toml")
			write(t, path, "version = 1\n")
			f := start(t, testDebounce, watch.Target{Path: path})
			s.save(t, path, long)
			c := f.next()
			if s.gap && c.Removed {
				c = f.next()
			}
			if want := watch.HashBytes([]byte(long)); c != (watch.Change{Path: path, Hash: want}) {
				t.Fatalf("got change %+v, want %s with hash %.12s", c, path, want)
			}
			f.quiet()
		})
	}
}

// TestTruncateThenWriteInPieces: a save made of a truncation and several
// writes with pauses shorter than the debounce is reported once, with the
// final content.
func TestTruncateThenWriteInPieces(t *testing.T) {
	// A debounce well above the pauses, so that a busy machine does not
	// stretch a pause past it.
	const debounce, pause = 250 * time.Millisecond, 5 * time.Millisecond
	path := filepath.Join(t.TempDir(), "config.toml")
	write(t, path, "version = 1\n")
	f := start(t, debounce, watch.Target{Path: path})

	file, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	must(t, err)
	var all strings.Builder
	for i := range 5 {
		time.Sleep(pause) // part of the scenario: a writer that pauses
		piece := fmt.Sprintf("piece = %d\n", i)
		all.WriteString(piece)
		_, err := file.WriteString(piece)
		must(t, err)
	}
	must(t, file.Close())
	f.want(path, all.String())
	f.quiet()
}

// TestHalfWrittenFile documents the limit: a writer that pauses for longer
// than the debounce mid-write gets its partial content reported; the rest
// of the write raises the next change.
func TestHalfWrittenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	write(t, path, "version = 1\n")
	f := start(t, testDebounce, watch.Target{Path: path})

	file, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	must(t, err)
	defer file.Close()
	_, err = file.WriteString("[[plugins]]\n")
	must(t, err)
	f.want(path, "[[plugins]]\n") // received once the writer has paused for the debounce
	_, err = file.WriteString("name = \"audit\"\n")
	must(t, err)
	must(t, file.Close())
	f.want(path, "[[plugins]]\nname = \"audit\"\n")
}

// TestSameContentReportsNothing: touching, changing the mode, rewriting the
// same bytes in place or by rename report nothing.
func TestSameContentReportsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	write(t, path, "version = 1\n")
	f := start(t, testDebounce, watch.Target{Path: path})

	later := time.Now().Add(time.Hour)
	must(t, os.Chtimes(path, later, later))
	f.quiet()
	must(t, os.Chmod(path, 0o600))
	f.quiet()
	write(t, path, "version = 1\n")
	f.quiet()
	write(t, path+".tmp", "version = 1\n")
	must(t, os.Rename(path+".tmp", path))
	f.quiet()
}

// TestRemoveAndRecreate: removal reports Removed; the file coming back is
// reported even with its old content.
func TestRemoveAndRecreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	write(t, path, "version = 1\n")
	f := start(t, testDebounce, watch.Target{Path: path})

	must(t, os.Remove(path))
	f.wantRemoved(path)
	write(t, path, "version = 1\n")
	f.want(path, "version = 1\n")
	f.quiet()
}

// TestKubernetesConfigMap builds the layout of a ConfigMap volume and flips
// its ..data link the way the kubelet does.
func TestKubernetesConfigMap(t *testing.T) {
	dir := t.TempDir()
	flip := func(stamp, content string) {
		t.Helper()
		old, _ := os.Readlink(filepath.Join(dir, "..data"))
		write(t, filepath.Join(dir, stamp, "config.toml"), content)
		must(t, os.Symlink(stamp, filepath.Join(dir, "..data_tmp")))
		must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
		if old != "" {
			must(t, os.RemoveAll(filepath.Join(dir, old)))
		}
	}
	flip("..2026_11_25_10_00_00.1", "version = 1\n")
	path := filepath.Join(dir, "config.toml")
	must(t, os.Symlink(filepath.Join("..data", "config.toml"), path))
	f := start(t, testDebounce, watch.Target{Path: path})

	flip("..2026_11_25_10_05_00.2", "version = 2\n")
	f.want(path, "version = 2\n")
	flip("..2026_11_25_10_10_00.3", "version = 3\n")
	f.want(path, "version = 3\n")
	// The kubelet's periodic resync flips to a new directory with the same
	// content: nothing to report.
	flip("..2026_11_25_10_15_00.4", "version = 3\n")
	f.quiet()
}

// TestSymlinkToAnotherDirectory: an edit of the file a link leads to is
// seen although it happens outside the link's directory, and so is the
// link being pointed elsewhere.
func TestSymlinkToAnotherDirectory(t *testing.T) {
	real1 := filepath.Join(t.TempDir(), "real.toml")
	real2 := filepath.Join(t.TempDir(), "real.toml")
	write(t, real1, "version = 1\n")
	write(t, real2, "version = 2\n")
	path := filepath.Join(t.TempDir(), "config.toml")
	must(t, os.Symlink(real1, path))
	f := start(t, testDebounce, watch.Target{Path: path})

	write(t, real1, "version = 1.1\n")
	f.want(path, "version = 1.1\n")
	must(t, os.Symlink(real2, path+".tmp"))
	must(t, os.Rename(path+".tmp", path))
	f.want(path, "version = 2\n")
	write(t, real2, "version = 2.1\n")
	f.want(path, "version = 2.1\n")
	write(t, real1, "version = 1.2\n") // no longer what the link leads to
	f.quiet()
}

// TestMissingParentCreatedLater: a target whose directory does not exist
// yet is reported when it is created.
func TestMissingParentCreatedLater(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc", "evhost", "config.toml")
	f := start(t, testDebounce, watch.Target{Path: path})
	write(t, path, "version = 1\n") // mkdir -p, then write
	f.want(path, "version = 1\n")
	write(t, path, "version = 2\n")
	f.want(path, "version = 2\n")
}

// TestGoSourceDirectory: a Go source directory changes with its non-test
// .go files and go.mod / go.sum, in any subdirectory, including ones
// created after Set; not with test files, testdata or hidden files.
func TestGoSourceDirectory(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "go.mod"), "module example.com/audit\n")
	write(t, filepath.Join(src, "main.go"), "package main\n")
	write(t, filepath.Join(src, "main_test.go"), "package main\n")
	write(t, filepath.Join(src, "testdata", "event.json"), "{}")
	write(t, filepath.Join(src, ".git", "HEAD"), "ref: refs/heads/main\n")
	target := watch.Target{Path: src, Dir: true}
	f := start(t, testDebounce, target)
	changed := func() {
		t.Helper()
		h, err := watch.Hash(target)
		must(t, err)
		f.wantHash(src, h)
	}

	write(t, filepath.Join(src, "main.go"), "package main\n\nfunc main() {}\n")
	changed()
	write(t, filepath.Join(src, "rules", "rules.go"), "package rules\n") // mkdir, then write
	changed()
	write(t, filepath.Join(src, "rules", "rules.go"), "package rules\n\nconst N = 1\n") // the new directory is watched
	changed()
	write(t, filepath.Join(src, "a", "b", "c", "c.go"), "package c\n") // mkdir -p
	changed()
	write(t, filepath.Join(src, "a", "b", "c", "c.go"), "package c\n\nconst C = 1\n")
	changed()
	write(t, filepath.Join(src, "go.mod"), "module example.com/audit\n\ngo 1.26\n")
	changed()
	write(t, filepath.Join(src, "go.sum"), "")
	changed()

	write(t, filepath.Join(src, "main_test.go"), "package main\n\nimport \"testing\"\n")
	write(t, filepath.Join(src, "rules", "rules_test.go"), "package rules\n")
	write(t, filepath.Join(src, "testdata", "event.json"), `{"type":"order.created"}`)
	write(t, filepath.Join(src, "testdata", "fixture.go"), "package fixture\n")
	write(t, filepath.Join(src, ".git", "HEAD"), "ref: refs/heads/dev\n")
	write(t, filepath.Join(src, ".main.go.swp"), "swap")
	write(t, filepath.Join(src, "README.md"), "# audit\n")
	f.quiet()

	must(t, os.RemoveAll(filepath.Join(src, "a")))
	changed()
	must(t, os.RemoveAll(src))
	f.wantRemoved(src)
	write(t, filepath.Join(src, "main.go"), "package main\n")
	changed()
	write(t, filepath.Join(src, "main.go"), "package main\n\n// Back.\n")
	changed()
}

// TestSet: Set replaces the watched set; a target that stays keeps its
// state; a Hash given with a target is compared at once.
func TestSet(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a.wasm"), filepath.Join(dir, "b.wasm"), filepath.Join(dir, "c.wasm")
	for _, p := range []string{a, b, c} {
		write(t, p, "v1 "+p)
	}
	f := start(t, testDebounce, watch.Target{Path: a}, watch.Target{Path: b})

	write(t, b, "v2 b")
	f.want(b, "v2 b")
	f.set(watch.Target{Path: b}, watch.Target{Path: c})
	write(t, a, "v2 a") // no longer watched
	f.quiet()
	write(t, b, "v2 b") // kept with what it was last reported as
	f.quiet()
	write(t, c, "v2 c")
	f.want(c, "v2 c")

	// The caller loaded v2 but the file holds v3 by the time of Set.
	write(t, a, "v3 a")
	f.set(watch.Target{Path: a, Hash: watch.HashBytes([]byte("v2 a"))}, watch.Target{Path: b}, watch.Target{Path: c})
	f.want(a, "v3 a")
	f.set(watch.Target{Path: a, Hash: watch.HashBytes([]byte("v3 a"))}, watch.Target{Path: b}, watch.Target{Path: c})
	f.quiet()

	if err := f.w.Set([]watch.Target{{Path: ""}}); err == nil {
		t.Error("Set accepted a target with an empty path")
	}
}

// TestForce: Force finds a change that no event shows (a link in another,
// unwatched directory flipped).
func TestForce(t *testing.T) {
	real1 := filepath.Join(t.TempDir(), "real.toml")
	real2 := filepath.Join(t.TempDir(), "real.toml")
	write(t, real1, "version = 1\n")
	write(t, real2, "version = 2\n")
	hop := filepath.Join(t.TempDir(), "current.toml")
	must(t, os.Symlink(real1, hop))
	path := filepath.Join(t.TempDir(), "config.toml")
	must(t, os.Symlink(hop, path))
	f := start(t, testDebounce, watch.Target{Path: path})

	must(t, os.Symlink(real2, hop+".tmp"))
	must(t, os.Rename(hop+".tmp", hop))
	f.quiet() // no event in a watched directory
	must(t, f.w.Force())
	f.want(path, "version = 2\n")
	must(t, f.w.Force())
	f.quiet()
}

func TestClose(t *testing.T) {
	w, err := watch.New(watch.Options{})
	must(t, err)
	path := filepath.Join(t.TempDir(), "config.toml")
	write(t, path, "version = 1\n")
	must(t, w.Set([]watch.Target{{Path: path}}))
	must(t, w.Close())
	if _, ok := <-w.Changes(); ok {
		t.Error("Changes is not closed after Close")
	}
	if err := w.Set(nil); !errors.Is(err, watch.ErrClosed) {
		t.Errorf("Set after Close: %v, want ErrClosed", err)
	}
	if err := w.Force(); !errors.Is(err, watch.ErrClosed) {
		t.Errorf("Force after Close: %v, want ErrClosed", err)
	}
	must(t, w.Close())
}
