package main

// The operator's tools: the effective configuration, a health probe for
// container runtimes, and the plugins (a module inspected on disk, or the
// list a daemon runs).

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/wasm"
)

func cmdConfig(_ context.Context, args []string, e *env) int {
	fs := newFlags(e, "config", "", "Print the configuration the daemon would run with: every key, defaults filled in,\n"+
		"relative paths resolved, secrets redacted (a secret read from the environment or a\n"+
		"file shows as KEY_env or KEY_file with the variable's name or the file's path). The\n"+
		"config is validated first, as `evhost run` does; a running daemon's is at\n"+
		"GET /v1/admin/config (admin scope).")
	cf := addConfigFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of TOML")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, ok := cf.load(e)
	if !ok {
		return exitError
	}
	doc := cfg.Effective()
	if !*asJSON {
		fprintf(e.stdout, "# evhost config: %s\n", filepath.Join(cfg.Dir, filepath.Base(cfg.File)))
		e.stdout.Write(doc.TOML())
		return exitOK
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false) // events = [">"], not "\u003e"
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		fprintf(e.stderr, "evhost config: %v\n", err)
		return exitError
	}
	return exitOK
}

func cmdHealth(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "health", "", "Probe a running daemon: GET /healthz (the process serves), or /readyz with --ready\n"+
		"(started, not draining). Exit code 0 when it answers 200, 1 otherwise, 6 when\n"+
		"nothing answers. For container health checks: the image has no curl. An address\n"+
		"on every interface (0.0.0.0:8080, :8080) is probed on loopback.")
	df := addDaemonFlags(fs)
	ready := fs.Bool("ready", false, "probe /readyz instead of /healthz")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	c, ok := df.client(e, fs, "evhost health")
	if !ok {
		return exitError
	}
	c.base = loopbackBase(c.base)
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	resp, body, code, ok := c.do(ctx, http.MethodGet, path)
	if !ok {
		return code
	}
	if resp.StatusCode != http.StatusOK {
		fprintf(e.stderr, "evhost health: %s %s: %s\n", path, resp.Status, strings.TrimSpace(string(body)))
		return exitError
	}
	fprintf(e.stdout, "ok\n")
	return exitOK
}

// loopbackBase returns base (scheme://host:port) with an unspecified host
// (every interface) replaced by the loopback address.
func loopbackBase(base string) string {
	scheme, hostport, ok := strings.Cut(base, "://")
	if !ok {
		return base
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return base
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	default:
		return base
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

func cmdPlugins(ctx context.Context, args []string, e *env) int {
	return runGroup(ctx, args, e, "plugins", "Inspect a plugin module, or list the plugins a running daemon serves.", []command{
		{"list", "the plugins of a running daemon: version, kind, when loaded, calls, last refusal", cmdPluginsList},
		{"inspect", "what a .wasm module is and needs: kind, ABI version, imports and grants, memory, digest", cmdPluginsInspect},
	})
}

func cmdPluginsList(ctx context.Context, args []string, e *env) int {
	var list struct {
		Plugins []api.PluginInfo `json:"plugins"`
		Release *api.ReleaseInfo `json:"release"`
	}
	if code, done := getList(ctx, args, e, "plugins list", "List the plugins of a running daemon (GET /v1/plugins): each one's version (the\n"+
		"SHA-256 of its module), kind, when that version was loaded, its calls and\n"+
		"instances, and its last refused reload; in deploy mode, the release.",
		"/v1/plugins", "a list of plugins", &list); done {
		return code
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLUGIN\tSTATE\tKIND\tVERSION\tLOADED\tCALLS\tINSTANCES\tLAST REFUSAL")
	for _, p := range list.Plugins {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", p.Name, pluginState(p), dash(p.Kind), short(p.Version),
			loaded(p.LoadedAt), p.Stats.Calls, p.Stats.Instances, dash(refusal(p)))
	}
	tw.Flush()
	if list.Release != nil {
		b, _ := json.Marshal(list.Release)
		fprintf(e.stdout, "release: %s\n", b)
	}
	return exitOK
}

func pluginState(p api.PluginInfo) string {
	if p.Version == "" {
		return "not loaded"
	}
	return "serving"
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return dash(h)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func loaded(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func refusal(p api.PluginInfo) string {
	if p.LastRefusal == nil {
		return ""
	}
	return p.LastRefusal.Error
}

func cmdPluginsInspect(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "plugins inspect", "FILE.wasm", "Print what a plugin module is and what it needs, without running a daemon: its kind\n"+
		"(reactor or command), the ABI version it speaks, its exports and imports, the\n"+
		"grants its imports need in the plugin's table (kv, allowed_hosts), its memory\n"+
		"(declared, and the pages it may reach under --memory), its size and SHA-256 (the\n"+
		"version GET /v1/plugins shows, and the digest of a sha256: path). Then it loads it\n"+
		"as a daemon would, with every grant, and says whether this host accepts it (exit\n"+
		"code 1 if not).")
	asJSON := fs.Bool("json", false, "print JSON")
	memory := fs.String("memory", "64MiB", "the memory limit to check the module against (a plugin's memory key)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	limit, err := config.ParseSize(*memory)
	if err != nil || limit <= 0 {
		fprintf(e.stderr, "evhost plugins inspect: --memory %q: want a size such as 64MiB\n", *memory)
		return exitUsage
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fprintf(e.stderr, "evhost plugins inspect: %v\n", err)
		return exitError
	}
	dir, err := os.MkdirTemp("", "evhost-inspect-")
	if err != nil {
		fprintf(e.stderr, "evhost plugins inspect: %v\n", err)
		return exitError
	}
	defer os.RemoveAll(dir)
	rt, err := wasm.NewRuntime(ctx, wasm.RuntimeOptions{CacheDir: dir})
	if err != nil {
		fprintf(e.stderr, "evhost plugins inspect: %v\n", err)
		return exitError
	}
	defer rt.Close(context.Background())
	info, err := rt.Inspect(ctx, data, uint64(limit))
	if err != nil {
		fprintf(e.stderr, "evhost plugins inspect: %s: %v\n", fs.Arg(0), err)
		return exitError
	}
	if *asJSON {
		b, _ := json.MarshalIndent(info, "", "  ")
		fprintf(e.stdout, "%s\n", b)
	} else {
		printModuleInfo(e, fs.Arg(0), info)
	}
	if info.Refused != "" {
		return exitError
	}
	return exitOK
}

func printModuleInfo(e *env, file string, m *wasm.ModuleInfo) {
	w := e.stdout
	fprintf(w, "file     %s\nsize     %d bytes\nsha256   %s\n", file, m.Size, m.SHA256)
	abi := "-"
	if m.ABIVersion != 0 {
		abi = fmt.Sprintf("v%d", m.ABIVersion)
	}
	fprintf(w, "kind     %s\nabi      %s (this host speaks v%d)\n", m.Kind, abi, wasm.ABIVersion)
	grants := "none"
	if len(m.Grants) > 0 {
		grants = strings.Join(m.Grants, "; ")
	}
	fprintf(w, "grants   %s\n", grants)
	for _, mem := range m.Memories {
		max := "none declared"
		if mem.MaxPages != nil {
			max = fmt.Sprintf("%d pages (%s)", *mem.MaxPages, pagesSize(*mem.MaxPages))
		}
		fprintf(w, "memory   %q: initial %d pages (%s), maximum %s; under --memory it may grow to %d pages (%s)\n",
			mem.Name, mem.MinPages, pagesSize(mem.MinPages), max, m.LimitPages, pagesSize(m.LimitPages))
	}
	fprintf(w, "exports  %d functions\n", len(m.Exports))
	for _, x := range m.Exports {
		fprintf(w, "  %s %s\n", x.Name, x.Signature)
	}
	fprintf(w, "imports  %d functions\n", len(m.Imports))
	imps := append([]wasm.FuncInfo(nil), m.Imports...)
	sort.SliceStable(imps, func(i, j int) bool { return imps[i].Module < imps[j].Module })
	for _, x := range imps {
		note := ""
		if x.Grant != "" {
			note = "  (needs " + x.Grant + ")"
		}
		fprintf(w, "  %s.%s %s%s\n", x.Module, x.Name, x.Signature, note)
	}
	if m.Refused != "" {
		fprintf(w, "load     refused: %s\n", m.Refused)
	} else {
		fprintf(w, "load     ok: this host accepts it\n")
	}
}

func pagesSize(pages uint32) string { return config.Size(uint64(pages) * 65536).String() }
