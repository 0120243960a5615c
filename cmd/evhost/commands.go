package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/buildinfo"
)

func fprintf(w io.Writer, format string, args ...any) { fmt.Fprintf(w, format, args...) }

// newFlags returns a flag set whose usage names the command and its
// arguments.
func newFlags(e *env, name, args, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fprintf(e.stderr, "Usage: evhost %s [flags] %s\n\n%s\n\nFlags:\n", name, args, about)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args; it returns false with the exit code when done.
func parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

// configFlags are the flags of every command that loads a config.
type configFlags struct {
	path, dataDir *string
	fs            *flag.FlagSet
}

func addConfigFlags(fs *flag.FlagSet) configFlags {
	return configFlags{
		path:    fs.String("config", "config.toml", "config file"),
		dataDir: fs.String("data-dir", "", "data directory (overrides [host] data_dir)"),
		fs:      fs,
	}
}

func (c configFlags) load(e *env) (*config.Config, bool) {
	cfg, err := config.Load(*c.path)
	if err != nil {
		fprintf(e.stderr, "%v\n", err)
		return nil, false
	}
	if *c.dataDir != "" {
		// A relative --data-dir is relative to the working directory; the
		// host needs it absolute, as the config's own data_dir is (it
		// builds Go plugins with their directory as the working one).
		dir, err := filepath.Abs(*c.dataDir)
		if err != nil {
			fprintf(e.stderr, "--data-dir: %v\n", err)
			return nil, false
		}
		cfg.Host.DataDir, cfg.Host.ResolvedDataDir = *c.dataDir, dir
	}
	return cfg, true
}

// newLogger builds the logger the config asks for.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Host.LogLevel}
	if cfg.Host.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdVersion(_ context.Context, args []string, e *env) int {
	fs := newFlags(e, "version", "", "Print the version of evhost and of the plugin ABI it implements.")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	fprintf(e.stdout, "evhost %s (plugin ABI v%d)\n", buildinfo.Version(), wasm.ABIVersion)
	return exitOK
}

func cmdValidate(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "validate", "", "Check the config file (every error with file:line:column) and load every enabled\nplugin (building Go source directories), without running anything.")
	cf := addConfigFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cf.findUp(e)
	cfg, ok := cf.load(e)
	if !ok {
		return exitError
	}
	cfgPath := cf.path
	h, err := host.New(ctx, cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fprintf(e.stderr, "%s: %v\n", *cfgPath, err)
		return exitError
	}
	defer h.Close(ctx)
	n := 0
	for _, p := range cfg.Plugins {
		if v := h.Plugin(p.Name); v != nil {
			fprintf(e.stdout, "plugin %-12s %s %s  events %s\n", p.Name, v.Kind(), v.Hash()[:12], strings.Join(p.Events, ", "))
			n++
		}
	}
	fprintf(e.stdout, "%s: valid (%d plugins loaded)\n", *cfgPath, n)
	return exitOK
}

// readData returns the data argument: inline text, @file, or - for stdin.
func readData(e *env, arg string) ([]byte, error) {
	switch {
	case arg == "-":
		return io.ReadAll(e.stdin)
	case strings.HasPrefix(arg, "@"):
		return os.ReadFile(arg[1:])
	}
	return []byte(arg), nil
}

func cmdCall(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "call", "PLUGIN TYPE [DATA|@file|-]",
		"Run the plugin PLUGIN of the config on one event of type TYPE, locally: nothing is\npublished. Prints the emitted events as JSON lines on stdout and the plugin's log\nlines on stderr. Exit code 0 when the handler succeeds, 3 when it asks for a retry,\n4 when it rejects the event.")
	cf := addConfigFlags(fs)
	ct := fs.String("content-type", "application/json", "datacontenttype of the event")
	subject := fs.String("subject", "", "subject of the event")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() < 2 || fs.NArg() > 3 {
		fs.Usage()
		return exitUsage
	}
	cf.findUp(e)
	cfg, ok := cf.load(e)
	if !ok {
		return exitError
	}
	ev := &event.Event{Type: fs.Arg(1), Subject: *subject}
	if fs.NArg() == 3 {
		data, err := readData(e, fs.Arg(2))
		if err != nil {
			fprintf(e.stderr, "evhost call: %v\n", err)
			return exitError
		}
		ev.Data, ev.DataContentType = data, *ct
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	res, _, err := host.CallOnce(ctx, cfg, fs.Arg(0), ev, logger)
	if err != nil {
		fprintf(e.stderr, "evhost call: %v\n", err)
		return exitError
	}
	for _, em := range res.Emits {
		e.stdout.Write(append(event.AppendJSON(nil, em), '\n'))
	}
	switch res.Status {
	case wasm.Done:
		fprintf(e.stderr, "status: done (%d emitted)\n", len(res.Emits))
		return exitOK
	case wasm.Reject:
		fprintf(e.stderr, "status: reject: %s\n", res.Reason)
		return exitRejected
	default:
		fprintf(e.stderr, "status: retry: %s\n", res.Reason)
		return exitRetry
	}
}

func cmdPublish(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "publish", "TYPE [DATA|@file|-]",
		"Publish one event of type TYPE to a running daemon (POST /v1/events/TYPE). DATA is\nthe event's data: inline, @file, or - for stdin. Prints the id of the accepted event.")
	df := addDaemonFlags(fs)
	ct := fs.String("content-type", "application/json", "content type of DATA")
	id := fs.String("id", "", "event id (default: a new UUID, stamped by the daemon)")
	subject := fs.String("subject", "", "event subject")
	delay := fs.Duration("delay", 0, "deliver the event this long from now (a delayed event: ce-delay)")
	deliverAt := fs.String("deliver-at", "", "deliver the event at this RFC 3339 time (ce-deliverat)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() < 1 || fs.NArg() > 2 || *delay < 0 || (*delay > 0 && *deliverAt != "") {
		fs.Usage()
		return exitUsage
	}
	c, ok := df.client(e, fs, "evhost publish")
	if !ok {
		return exitError
	}
	var data []byte
	if fs.NArg() == 2 {
		var err error
		if data, err = readData(e, fs.Arg(1)); err != nil {
			fprintf(e.stderr, "evhost publish: %v\n", err)
			return exitError
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/events/"+fs.Arg(0), bytes.NewReader(data))
	if err != nil {
		fprintf(e.stderr, "evhost publish: %v\n", err)
		return exitUsage
	}
	req.Header.Set("Content-Type", *ct)
	if *id != "" {
		req.Header.Set("ce-id", *id)
	}
	if *subject != "" {
		req.Header.Set("ce-subject", *subject)
	}
	if *delay > 0 {
		req.Header.Set("ce-delay", delay.String())
	}
	if *deliverAt != "" {
		req.Header.Set("ce-deliverat", *deliverAt)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) || errors.Is(err, context.DeadlineExceeded) {
			fprintf(e.stderr, "evhost publish: no daemon answered at %s: %v\n", c.addr, err)
			return exitUnreachble
		}
		fprintf(e.stderr, "evhost publish: %v\n", err)
		return exitError
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusAccepted:
		var ok struct {
			IDs []string `json:"ids"`
		}
		if json.Unmarshal(body, &ok) == nil && len(ok.IDs) > 0 {
			fprintf(e.stdout, "%s\n", strings.Join(ok.IDs, "\n"))
		} else {
			fprintf(e.stdout, "%s\n", bytes.TrimSpace(body))
		}
		return exitOK
	case resp.StatusCode == http.StatusUnauthorized:
		fprintf(e.stderr, "evhost publish: unauthorized: set --token, the config's token, or $EVHOST_TOKEN\n")
		return exitAuth
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		fprintf(e.stderr, "evhost publish: the daemon is busy (%s, Retry-After %s): %s\n", resp.Status, resp.Header.Get("Retry-After"), bytes.TrimSpace(body))
		return exitRetry
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		fprintf(e.stderr, "evhost publish: refused (%s): %s\n", resp.Status, bytes.TrimSpace(body))
		return exitRejected
	default:
		fprintf(e.stderr, "evhost publish: %s: %s\n", resp.Status, bytes.TrimSpace(body))
		return exitError
	}
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// signalContext returns a context cancelled at the first SIGINT or SIGTERM;
// a second signal exits the process at once.
func signalContext(ctx context.Context, e *env) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			fprintf(e.stderr, "evhost: %v: draining (send it again to exit now)\n", s)
			cancel()
		case <-ctx.Done():
			return
		}
		<-ch
		fprintf(e.stderr, "evhost: second signal: exiting now\n")
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// runGroup runs the subcommand of `evhost GROUP SUBCOMMAND` named by args[0]
// among subs, or prints the group's usage (with about) for help and for a
// missing or unknown subcommand.
func runGroup(ctx context.Context, args []string, e *env, group, about string, subs []command) int {
	names := make([]string, len(subs))
	for i, c := range subs {
		names[i] = c.name
	}
	usage := fmt.Sprintf("Usage: evhost %s %s [flags] [arguments]\n\n%s\n", group, strings.Join(names, "|"), about)
	if len(args) == 0 {
		fprintf(e.stderr, "%s", usage)
		return exitUsage
	}
	for _, c := range subs {
		if c.name == args[0] {
			return c.run(ctx, args[1:], e)
		}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fprintf(e.stderr, "%s\nRun 'evhost %s SUBCOMMAND -h' for its flags.\n", usage, group)
		return exitOK
	}
	want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	fprintf(e.stderr, "evhost %s: unknown subcommand %q (want %s)\n", group, args[0], want)
	return exitUsage
}
