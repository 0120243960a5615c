// Command evhost is the evhost daemon and its command-line client.
//
//	evhost run       start the daemon on ./config.toml
//	evhost publish   send an event to a running daemon
//	evhost validate  check a config and its plugins without running
//	evhost call      run one plugin on one event locally
//	evhost new       scaffold a handler and add it to the config
//	evhost replay    run a subscription again over recorded events; shadow-replay a candidate
//	evhost dlq       list, show and retry the dead letters of a running daemon
//	evhost trace     print the tree of events and handler runs that one event caused
//	evhost deploy    publish the config and its plugins to every daemon in deploy mode
//	evhost backup    back up the broker's streams of a running daemon into a directory
//	evhost restore   restore a backup into the broker of a stopped daemon
//	evhost config    print the effective configuration, secrets redacted
//	evhost plugins   inspect a plugin module; list the plugins of a running daemon
//	evhost health    probe a running daemon's /healthz (container health checks)
//	evhost version   print the version, commit, date and the versions built in
//
// Run `evhost help` or `evhost COMMAND -h` for details.
package main

import (
	"context"
	"io"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit codes, one per outcome, so that scripts can tell them apart.
const (
	exitOK         = 0 // success; for publish: every event accepted
	exitError      = 1 // a failure of evhost itself (I/O, an invalid config, a plugin refused)
	exitUsage      = 2 // bad command line
	exitRetry      = 3 // call: the handler failed and asks for a retry; publish: backpressure, try later
	exitRejected   = 4 // call: the handler rejected the event; publish: the daemon refused it as malformed
	exitAuth       = 5 // publish: the token was refused
	exitUnreachble = 6 // publish: no daemon answered at the address
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, env *env) int
}

// env is what a command may touch: no globals, so tests run commands in
// process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

var commands []command

func init() {
	commands = []command{
		{"run", "start the daemon (config.toml in the current directory by default)", cmdRun},
		{"publish", "publish an event to a running daemon over HTTP", cmdPublish},
		{"validate", "check a config file and load its plugins, without running", cmdValidate},
		{"call", "run one plugin on one event locally; print its emits and logs", cmdCall},
		{"new", "scaffold a handler in Go, Rust, C or AssemblyScript and add it to the config", cmdNew},
		{"dlq", "list, show and retry dead letters of a running daemon (list|show|retry)", cmdDLQ},
		{"webhooks", "list the webhooks of a running daemon, enable one a 410 disabled, show its deliveries (list|enable|deliveries)", cmdWebhooks},
		{"schedules", "list the schedules of a running daemon: next and last tick, counts, last error (list)", cmdSchedules},
		{"subscriptions", "list, pause and resume the subscriptions of a running daemon; delete one, with the events it holds; add and delete webhooks at runtime (list|pause|resume|delete|add-webhook|delete-webhook)", cmdSubscriptions},
		{"trace", "print the tree of events and handler runs that one event caused, from a running daemon", cmdTrace},
		{"replay", "run a subscription's handler again over recorded events, or shadow-replay a candidate", cmdReplay},
		{"deploy", "publish the config and its plugins, pinned by digest, to the daemons in deploy mode", cmdDeploy},
		{"backup", "back up the broker's streams of a running daemon into a directory (JetStream snapshots)", cmdBackup},
		{"restore", "restore a backup directory into the broker of a stopped daemon (a fresh data directory)", cmdRestore},
		{"config", "print the effective configuration: every default filled in, secrets redacted", cmdConfig},
		{"plugins", "inspect a plugin module (kind, ABI, imports, grants, memory, digest); list a daemon's plugins (inspect|list)", cmdPlugins},
		{"health", "probe a running daemon's /healthz (or /readyz): for container health checks", cmdHealth},
		{"version", "print the version, commit and date of evhost, of Go, wazero, the NATS server and the plugin ABI", cmdVersion},
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], e)
		}
	}
	fprintf(stderr, "evhost: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fprintf(w, `evhost runs event handlers written as WebAssembly plugins.

Usage:
  evhost COMMAND [flags] [arguments]

Commands:
`)
	for _, c := range commands {
		fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fprintf(w, `
Run 'evhost COMMAND -h' for the flags of a command.

Exit codes: 0 ok, 1 error, 2 usage, 3 retry later (handler retry, backpressure),
4 rejected (handler reject, malformed event), 5 unauthorized, 6 daemon unreachable.
`)
}
