// Package hotreload reloads what changes on disk: it keeps a watch.Watcher
// on the config file and on every plugin's source, and calls back the
// daemon for each change. It owns that watcher and its goroutine.
//
// It imports the standard library and host/watch only; it knows neither
// the config nor the registry, only the callbacks it is given.
package hotreload
