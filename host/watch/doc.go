// Package watch is the file watcher behind hot reload: it watches a set of
// paths and reports when the content of one of them has changed. It knows
// nothing of plugins or config; the daemon gives it the plugin files, the
// Go source directories it builds plugins from and config.toml as
// [Target]s, and reloads what a [Change] names.
//
// It owns the fsnotify watches and one goroutine ([New] starts it,
// [Watcher.Close] stops it and waits for it). It imports the standard
// library and fsnotify only, and must not import config or any other
// evhost package.
//
// # What counts as a change
//
// Content, never metadata: a target's content is summed up by [Hash] (the
// SHA-256 of a file, or of the sorted list of names and file hashes of a
// directory's counted files), and a Change is sent only when that hash
// differs from the last one delivered for the target (or recorded by
// [Watcher.Set]). Touching a file, changing its mode or rewriting the same
// bytes reports nothing.
//
// A target is hashed once it has been quiet (no event that may concern it)
// for the debounce period ([Options].Debounce), so a save made of several
// writes is reported once, with its final content. A writer that never
// pauses that long is not reported until it does.
//
// # How saving is seen
//
// fsnotify watches directories, never files: a file target is watched
// through its parent directory, which sees every common way of saving:
// writing in place (O_TRUNC then write), truncating then writing in
// several writes, writing a temporary file and renaming it over (editors,
// atomic saves), cp over, deleting and creating again. When the target is
// a symbolic link, any event in its directory re-resolves it and the
// directory of the file it leads to is watched as well: this catches the
// Kubernetes ConfigMap volume, where config.toml is a link to
// ..data/config.toml and ..data a link that is flipped atomically (a new
// ..data_tmp link renamed over it) to a new timestamped directory.
//
// A directory target is watched through every directory of its tree
// (watches follow the directories that are created and removed) and its
// parent. By default ([GoSource]) its content is its *.go files except
// *_test.go, and go.mod and go.sum; testdata and directories whose name
// begins with "." or "_" are left out. Test files are left out because
// they never enter a plugin's build: editing one must not swap the plugin.
//
// A path that does not exist yet is watched through its nearest existing
// ancestor, and is reported once it is created. A removed target is
// reported with Removed set.
//
// # Limits
//
// A half-written file can be reported: if a writer pauses for longer than
// the debounce period in the middle of a save, the content found then is
// reported. The daemon then refuses that module or config (it fails to
// compile, to parse or to pass its checks) and keeps the old version
// serving; the rest of the write raises the next change. Savers that write
// a temporary file and rename it never expose a partial file.
//
// Events cannot show a change outside the watched directories: a link in
// a chain that lives in a third directory, a link to a directory above the
// target being flipped, a file that a directory target's file links to, or
// a go.mod above a Go source directory that is not itself a target.
// [Watcher.Force] rehashes every target regardless of events; SIGHUP and
// POST /v1/admin/reload call it.
package watch
