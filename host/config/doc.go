// Package config turns an evhost config.toml into a [Config]: decoded,
// defaulted and validated, with every problem reported at its
// file:line:column.
//
// # What it owns
//
// The schema of config.toml (the top-level config.toml of the repository is
// its commented reference, and a test decodes it), the defaults (all in
// defaults.go), and the checks of every value. It checks syntax and values
// only: it does not look at plugin paths, build plugins, dial brokers or
// match event patterns. It does read the environment variables and files that
// secret keys name (see [Secret]), so that a missing one is reported with its
// position.
//
// It imports only the vocabulary of evhost (host/api, host/event, and
// host/filter to check expressions) and robfig/cron/v3's parser to check
// schedules; only the daemon (and the CLI) import it: every other package
// gets a small options struct of its own, filled by the daemon from a
// Config.
//
// # Strictness and errors
//
// Unknown keys are errors, so a typo never silently means a default. [Load]
// and [Parse] report every problem of a file at once, sorted by position,
// one per line, in the form
//
//	config.toml:12:3: plugins.payment.timeout: invalid duration "5x": time: unknown unit "x" in duration "5x"
//
// The error is an [ErrorList] of [*Error] values; each wraps one of
// [ErrSyntax], [ErrUnknownKey], [ErrType], [ErrMissing] or [ErrInvalid].
// Syntax errors carry the position the TOML library gives; for the others,
// which are found in the decoded tree, a small scanner of the TOML text maps
// each key path (tables, arrays of tables, dotted keys, inline tables and
// array elements) to the position of its key and its value. A problem with a
// key that is absent (a required key, a value inherited from [defaults]) is
// reported at the nearest enclosing key that is written, such as the
// [plugins.NAME] header.
//
// # Values
//
// Durations are strings in Go syntax ("5s", "100ms"); sizes are strings with
// a binary unit ("64MiB", "512KiB") or integers of bytes ([Size]). Event
// types and patterns are checked for syntax only: dot-separated tokens, "*"
// for one token, a final ">" for one or more.
//
// # Schedules and delayed events
//
// Each [[schedules]] entry ([Schedule]) has name, type, and cron (five
// fields, or @yearly, @monthly, @weekly, @daily, @hourly) in timezone (an
// IANA name, default UTC; the binary embeds the zone database) or every
// (at least "1s", whole seconds); optional source, subject, data (a string,
// or a table sent as JSON), datacontenttype, catch_up ("one", the default,
// or "none") and enabled. The [delayed] table ([Delayed]) has max_delay
// (default 30 days, never more than [broker] max_age) and max_pending
// (default 100000).
//
// A Config is immutable once returned; see [Config] for the reload model.
package config
