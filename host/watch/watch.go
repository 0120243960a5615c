package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long a target must stay quiet, when
// [Options].Debounce is zero, before its content is hashed and compared.
const DefaultDebounce = 100 * time.Millisecond

// ErrClosed is returned by [Watcher.Set] and [Watcher.Force] after
// [Watcher.Close].
var ErrClosed = errors.New("watch: the watcher is closed")

// Log attribute keys.
const (
	logPath = "path"
	logHash = "hash"
	logErr  = "err"
)

// Target is one watched path: a file, or a directory tree of which some
// files count.
type Target struct {
	// Path names the file or directory, absolute or relative to the
	// working directory. Changes report it as given.
	Path string
	// Dir makes the target a directory tree (a Go source directory): its
	// content is that of the files Filter counts, in the directory and
	// its subdirectories, skipping directories named testdata or whose
	// name begins with "." or "_".
	Dir bool
	// Filter decides which files of a directory target count, given each
	// file's slash-separated name relative to the directory. Nil means
	// [GoSource]. It is ignored for a file target, and must be safe to
	// call from the watcher's goroutine.
	Filter func(name string) bool
	// Hash, when not empty, is the hash (see [Hash] and [HashBytes]) of
	// the content the caller has loaded from Path: Set reports a Change
	// at once if the content is already different. When empty, Set
	// records the content it finds. A target already watched keeps what
	// it was last reported as unless Hash is given.
	Hash string
}

func (t Target) filter() func(string) bool {
	if t.Filter != nil {
		return t.Filter
	}
	return GoSource
}

// Change reports that the content of a target differs from the last one
// reported for it (or recorded by [Watcher.Set]).
type Change struct {
	// Path is the target's Path, as given to Set.
	Path string
	// Hash is the new content's hash, as [Hash] computes it; empty when
	// Removed.
	Hash string
	// Removed means the target no longer exists (a dangling symbolic
	// link counts as removed). When it comes back, a Change reports its
	// content, even if it is the same as before the removal.
	Removed bool
}

// Options configures a [Watcher].
type Options struct {
	// Debounce is how long a target must stay quiet (no file system event
	// touching it) before its content is hashed; DefaultDebounce when
	// zero.
	Debounce time.Duration
	// Logger receives a warning for what the watcher cannot watch or
	// read, and debug lines for changes; nothing when nil.
	Logger *slog.Logger
}

// Watcher reports changes of content of a set of targets on [Watcher.Changes].
// It owns one goroutine, started by [New] and stopped by [Watcher.Close].
// Its methods are safe for concurrent use.
type Watcher struct {
	debounce time.Duration
	log      *slog.Logger
	fsw      *fsnotify.Watcher
	changes  chan Change
	reqs     chan request
	done     chan struct{}
	exited   chan struct{}

	closeOnce sync.Once
	closeErr  error

	// Owned by the run goroutine.
	entries map[string]*entry // by absolute path
	watched map[string]bool   // directories added to fsw
	queue   []string          // absolute paths with a change to send, oldest first
	pending map[string]string // absolute path -> hash to send ("" = removed)
}

// request is a call of Set (set true) or Force, run by the goroutine.
type request struct {
	set     bool
	targets []Target
	reply   chan error
}

// entry is the state of one target.
type entry struct {
	t   Target
	abs string
	// resolved is abs with symbolic links resolved (for a file target,
	// only when abs is a link), as of the last check; link records that
	// abs was a link.
	resolved string
	link     bool
	sent     string    // hash last delivered or recorded ("" = absent)
	due      time.Time // when to check; zero when no event is pending
	dirs     []string  // directories watched for it at the last check
}

// New starts a watcher with an empty set of targets.
func New(opts Options) (*Watcher, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &Watcher{
		debounce: opts.Debounce,
		log:      opts.Logger,
		fsw:      fsw,
		changes:  make(chan Change),
		reqs:     make(chan request),
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
		entries:  map[string]*entry{},
		watched:  map[string]bool{},
		pending:  map[string]string{},
	}
	go w.run()
	return w, nil
}

// Changes returns the channel on which changes are delivered, one per
// target at a time: while a change waits to be received, a newer one for
// the same target replaces it, and one that brings the content back to
// what was last delivered cancels it. The channel is closed by Close.
func (w *Watcher) Changes() <-chan Change { return w.changes }

// Set replaces the watched set with targets. A target already watched (the
// same absolute path, file or directory alike) keeps its state, so a
// change pending for it is still reported; a new one is hashed now as its
// starting point (or compared with its Hash). Changes waiting for targets
// no longer in the set are dropped. The error joins what could not be
// watched or read; the other targets are watched all the same.
func (w *Watcher) Set(targets []Target) error {
	return w.do(request{set: true, targets: slices.Clone(targets)})
}

// Force checks every target now, without waiting for an event or the
// debounce period, for SIGHUP and POST /v1/admin/reload and for what
// events cannot show (see the package documentation). When it returns,
// every change it found waits on Changes. The error joins what could not
// be watched or read.
func (w *Watcher) Force() error { return w.do(request{}) }

func (w *Watcher) do(r request) error {
	r.reply = make(chan error, 1)
	select {
	case w.reqs <- r:
		return <-r.reply
	case <-w.done:
		return ErrClosed
	}
}

// Close stops the watcher's goroutine, waits for it, closes the Changes
// channel and releases the file system watches. Changes not yet received
// are dropped. Close is idempotent.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		close(w.done)
		<-w.exited
		if err := w.fsw.Close(); err != nil {
			w.closeErr = fmt.Errorf("watch: %w", err)
		}
	})
	return w.closeErr
}

func (w *Watcher) run() {
	defer close(w.exited)
	defer close(w.changes)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	events, errs := w.fsw.Events, w.fsw.Errors
	for {
		var out chan<- Change
		var head Change
		if len(w.queue) > 0 {
			out = w.changes
			abs := w.queue[0]
			h := w.pending[abs]
			head = Change{Path: w.entries[abs].t.Path, Hash: h, Removed: h == ""}
		}
		select {
		case <-w.done:
			timer.Stop()
			return
		case out <- head:
			abs := w.queue[0]
			w.queue = w.queue[1:]
			delete(w.pending, abs)
			w.entries[abs].sent = head.Hash
			w.log.Debug("content changed", slog.String(logPath, head.Path), slog.String(logHash, head.Hash))
			continue
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			w.onEvent(ev)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.log.Warn("file system events were lost; checking every target", slog.Any(logErr, err))
				due := time.Now().Add(w.debounce)
				for _, e := range w.entries {
					e.due = due
				}
			} else {
				w.log.Warn("file system watcher error", slog.Any(logErr, err))
			}
		case <-timer.C:
			w.checkDue(time.Now())
		case r := <-w.reqs:
			if r.set {
				r.reply <- w.set(r.targets)
			} else {
				r.reply <- w.force()
			}
		}
		w.arm(timer)
	}
}

// onEvent marks the targets that the event may have changed as due one
// debounce period from now.
func (w *Watcher) onEvent(ev fsnotify.Event) {
	p := filepath.Clean(ev.Name)
	var due time.Time
	for _, e := range w.entries {
		if e.related(p, ev.Op) {
			if due.IsZero() {
				due = time.Now().Add(w.debounce)
			}
			e.due = due
		}
	}
}

// arm sets timer to the earliest due entry, or stops it.
func (w *Watcher) arm(timer *time.Timer) {
	var next time.Time
	for _, e := range w.entries {
		if !e.due.IsZero() && (next.IsZero() || e.due.Before(next)) {
			next = e.due
		}
	}
	if next.IsZero() {
		timer.Stop()
		return
	}
	timer.Reset(time.Until(next))
}

// checkDue checks the targets due by now.
func (w *Watcher) checkDue(now time.Time) {
	for _, e := range w.entries {
		if !e.due.IsZero() && !e.due.After(now) {
			e.due = time.Time{}
			if err := w.check(e, false); err != nil {
				w.log.Warn("cannot check a watched target", slog.String(logPath, e.t.Path), slog.Any(logErr, err))
			}
		}
	}
	w.prune()
}

func (w *Watcher) force() error {
	var errs []error
	for _, e := range w.entries {
		e.due = time.Time{}
		errs = append(errs, w.check(e, false))
	}
	w.prune()
	return errors.Join(errs...)
}

func (w *Watcher) set(targets []Target) error {
	var errs []error
	next := make(map[string]*entry, len(targets))
	var toCheck []*entry
	for _, t := range targets {
		if t.Path == "" {
			errs = append(errs, errors.New("watch: a target has an empty path"))
			continue
		}
		abs, err := filepath.Abs(t.Path)
		if err != nil {
			errs = append(errs, fmt.Errorf("watch: %w", err))
			continue
		}
		if _, dup := next[abs]; dup {
			errs = append(errs, fmt.Errorf("watch: %s is a target twice", t.Path))
			continue
		}
		e := w.entries[abs]
		switch {
		case e != nil && e.t.Dir == t.Dir:
			e.t = t
			if t.Hash != "" {
				e.sent, e.due = t.Hash, time.Time{}
				toCheck = append(toCheck, e)
			}
		default:
			e = &entry{t: t, abs: abs, sent: t.Hash}
			toCheck = append(toCheck, e)
		}
		next[abs] = e
	}
	// Drop the changes waiting for targets that are gone or replaced.
	queue := w.queue[:0]
	for _, abs := range w.queue {
		if e := next[abs]; e != nil && e == w.entries[abs] {
			queue = append(queue, abs)
		} else {
			delete(w.pending, abs)
		}
	}
	w.queue = queue
	w.entries = next
	for _, e := range toCheck {
		// A new target without a Hash is hashed as its starting point.
		errs = append(errs, w.check(e, e.t.Hash == ""))
	}
	w.prune()
	return errors.Join(errs...)
}

// check watches what e depends on, then hashes it. A baseline check
// records the hash as e's starting point; any other queues a change if the
// hash differs from what was last delivered, or cancels a queued one if it
// does not. When the target cannot be read, nothing changes.
func (w *Watcher) check(e *entry, baseline bool) error {
	h, watchErr, hashErr := w.observe(e)
	if hashErr != nil {
		return errors.Join(watchErr, fmt.Errorf("watch: %w", hashErr))
	}
	if baseline {
		e.sent = h
		return watchErr
	}
	_, queued := w.pending[e.abs]
	switch {
	case h == e.sent && queued:
		delete(w.pending, e.abs)
		w.queue = slices.DeleteFunc(w.queue, func(abs string) bool { return abs == e.abs })
	case h != e.sent:
		w.pending[e.abs] = h
		if !queued {
			w.queue = append(w.queue, e.abs)
		}
	}
	return watchErr
}

// observe adds the watches e needs, and only then hashes it, so that a
// change made after the hash read a file or directory raises an event.
//
// A file target needs its parent directory (every way of saving a file
// shows there, renames and link flips included), and when it is a
// symbolic link, the directory of the file it resolves to. A directory
// target needs its parent (to see it removed, renamed or created) and
// every directory of its tree. A directory that does not exist yet is
// stood in for by its nearest existing ancestor, whose events show the
// missing path being created.
func (w *Watcher) observe(e *entry) (hash string, watchErr, hashErr error) {
	var dirs []string
	var errs []error
	add := func(dir string) {
		dirs = append(dirs, dir)
		// Adding again a directory already watched is cheap, and renews
		// the watch if the directory was replaced by a new one (fsnotify
		// drops the watch of a removed or renamed directory).
		if err := w.fsw.Add(dir); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("watch: watching %s: %w", dir, err))
			}
			return
		}
		w.watched[dir] = true
	}
	add(existingDir(filepath.Dir(e.abs)))
	e.resolved, e.link = e.abs, false
	var onDir func(string)
	if e.t.Dir {
		if r, err := filepath.EvalSymlinks(e.abs); err == nil {
			e.resolved = r
		}
		onDir = add
	} else if fi, err := os.Lstat(e.abs); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		e.link = true
		e.resolved = resolve(e.abs)
		add(existingDir(filepath.Dir(e.resolved)))
	}
	hash, hashErr = hashTarget(e.abs, e.t.Dir, e.t.filter(), onDir)
	e.dirs = dirs
	return hash, errors.Join(errs...), hashErr
}

// prune removes the watches that no target needs any more.
func (w *Watcher) prune() {
	want := make(map[string]bool, len(w.watched))
	for _, e := range w.entries {
		for _, d := range e.dirs {
			want[d] = true
		}
	}
	for d := range w.watched {
		if !want[d] {
			// An error means the watch is gone already (its directory was
			// removed).
			_ = w.fsw.Remove(d)
			delete(w.watched, d)
		}
	}
}

// related reports whether an event on path p may have changed e's content.
func (e *entry) related(p string, op fsnotify.Op) bool {
	// A directory on the way to the target was created, removed or
	// renamed.
	if isUnder(e.abs, p) || isUnder(e.resolved, p) {
		return true
	}
	if !e.t.Dir {
		if p == e.abs || p == e.resolved {
			return true
		}
		// Any entry beside a link may be a link of its chain (the
		// ConfigMap volume's ..data).
		if e.link {
			d := filepath.Dir(p)
			return d == filepath.Dir(e.abs) || d == filepath.Dir(e.resolved)
		}
		return false
	}
	for _, root := range [2]string{e.abs, e.resolved} {
		if p == root {
			return true
		}
		if !isUnder(p, root) {
			continue
		}
		rel := filepath.ToSlash(p[len(root)+1:])
		if skipPath(rel) {
			return false
		}
		// Only files are written to; a created, removed or renamed path
		// may be a directory, which the filter cannot judge.
		if op&^(fsnotify.Write|fsnotify.Chmod) == 0 && !e.t.filter()(rel) {
			return false
		}
		return true
	}
	return false
}

// isUnder reports whether path lies strictly below dir; both are clean.
func isUnder(path, dir string) bool {
	if dir == string(filepath.Separator) {
		return len(path) > 1 && path[0] == filepath.Separator
	}
	return len(path) > len(dir) && path[len(dir)] == filepath.Separator && path[:len(dir)] == dir
}

// existingDir returns dir, or its nearest ancestor that exists.
func existingDir(dir string) string {
	for {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}

// resolve returns the path the symbolic link at path leads to: all the
// way when it resolves, else (a dangling link) one step, so that the
// directory where its file should appear can be watched.
func resolve(path string) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return r
	}
	to, err := os.Readlink(path)
	if err != nil {
		return path
	}
	if !filepath.IsAbs(to) {
		to = filepath.Join(filepath.Dir(path), to)
	}
	return filepath.Clean(to)
}
