package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/internal/scaffold"
)

// newConfigHeader starts a config.toml that evhost new creates.
const newConfigHeader = `# evhost configuration, made by evhost new. Every key, with its default, is
# in the reference config.toml of evhost's repository; these defaults run
# the daemon on 127.0.0.1:8080 with its data in ./data.
`

func cmdNew(_ context.Context, args []string, e *env) int {
	fs := newFlags(e, "new", "NAME",
		"Scaffold a handler directory NAME (the handler's source using the language's kit, a\nunit test, a README with the build and test commands, and the kit itself, copied in),\nand add its [plugins.NAME] table to the config (created if missing; appended, so its\ncomments stay), or print the table with --print. Languages: "+strings.Join(scaffold.Langs, ", ")+".")
	lang := fs.String("lang", "", "the handler's language: "+strings.Join(scaffold.Langs, ", ")+" (required)")
	events := fs.String("events", "", "the event types it handles, comma-separated (default NAME.requested)")
	print := fs.Bool("print", false, "print the plugin's table instead of adding it to the config")
	dir := fs.String("dir", "", "the directory to create (default ./NAME)")
	cfgPath := fs.String("config", "config.toml", "the config file that gets the plugin's table")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	// Flags may follow NAME too (evhost new --lang go NAME --events T).
	var name string
	if fs.NArg() > 0 {
		name = fs.Arg(0)
		if code, ok := parse(fs, fs.Args()[1:]); !ok {
			return code
		}
	}
	if name == "" || fs.NArg() != 0 || *lang == "" {
		fs.Usage()
		return exitUsage
	}
	if err := scaffold.CheckName(name); err != nil {
		fprintf(e.stderr, "evhost new: %v\n", err)
		return exitUsage
	}
	if *dir == "" {
		*dir = name
	}
	var evs []string
	for _, t := range strings.Split(*events, ",") {
		if t = strings.TrimSpace(t); t != "" {
			evs = append(evs, t)
		}
	}
	// The config must be readable and free of the name before anything is
	// written.
	var existing []byte
	if !*print {
		b, err := os.ReadFile(*cfgPath)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			fprintf(e.stderr, "evhost new: %v\n", err)
			return exitError
		default:
			cfg, err := config.Load(*cfgPath)
			if err != nil {
				fprintf(e.stderr, "evhost new: the config must be valid before a plugin is added to it:\n%v\n", err)
				return exitError
			}
			if cfg.Plugin(name) != nil {
				fprintf(e.stderr, "evhost new: %s already has a plugin %q\n", *cfgPath, name)
				return exitError
			}
			existing = b
		}
	}
	res, err := scaffold.New(scaffold.Options{Lang: *lang, Name: name, Dir: *dir, ConfigDir: filepath.Dir(*cfgPath), Events: evs})
	if err != nil {
		fprintf(e.stderr, "evhost new: %v\n", err)
		return exitUsage
	}
	for _, f := range res.Files {
		fprintf(e.stderr, "wrote %s\n", filepath.Join(*dir, f))
	}
	if *print {
		fprintf(e.stdout, "%s", strings.TrimPrefix(res.Table, "\n"))
	} else {
		text := res.Table
		switch {
		case existing == nil:
			text = newConfigHeader + text
		case len(existing) > 0 && existing[len(existing)-1] != '\n':
			text = "\n" + text
		}
		f, err := os.OpenFile(*cfgPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			_, err = f.WriteString(text)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			fprintf(e.stderr, "evhost new: %v\n", err)
			return exitError
		}
		if _, err := config.Load(*cfgPath); err != nil {
			fprintf(e.stderr, "evhost new: %s is not valid after adding the plugin:\n%v\n", *cfgPath, err)
			return exitError
		}
		fprintf(e.stderr, "added [plugins.%s] to %s\n", name, *cfgPath)
	}
	ev := name + ".requested"
	if len(evs) > 0 {
		ev = evs[0]
	}
	fprintf(e.stderr, "\nNext:\n  cd %s && %s\n", *dir, res.Test)
	if res.Build != "" {
		fprintf(e.stderr, "  %s\n", res.Build)
	}
	fprintf(e.stderr, "  evhost call %s %s '{\"id\":1}'\n", name, ev)
	return exitOK
}

// findUp makes `evhost call` and `evhost validate` work from inside a
// handler's directory that evhost new made: without --config and without a
// config.toml in the working directory, the nearest config.toml of a
// parent directory is used, and named on stderr.
func (c configFlags) findUp(e *env) {
	if flagSet(c.fs, "config") {
		return
	}
	if _, err := os.Stat(*c.path); err == nil {
		return
	}
	wd, err := os.Getwd()
	if err != nil {
		return
	}
	for dir := filepath.Dir(wd); ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "config.toml")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			if rel, err := filepath.Rel(wd, p); err == nil {
				p = rel
			}
			fprintf(e.stderr, "evhost: using %s\n", p)
			*c.path = p
			return
		}
		if dir == filepath.Dir(dir) {
			return
		}
	}
}
