package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/sys"
	"log/slog"

	"github.com/evhost/evhost/host/event"
)

// exDataErr is the exit code (EX_DATAERR) a command module uses to say the
// event itself is bad: status 2, no retry.
const exDataErr = 65

// maxCommandOutput caps what a command module may write to stdout for one
// event; past it the call fails.
const maxCommandOutput = 8 << 20

// callCommand runs a command module once on ev (ABI v1, section 8): the
// event as CloudEvents JSON on stdin, emitted events as JSON lines on
// stdout, log lines from the rest of stdout and from stderr, the exit
// code as the status.
func (p *Plugin) callCommand(ctx context.Context, ev *event.Event, attempt int) Result {
	in := &instance{p: p, born: time.Now()}
	in.ctx = p.r.instanceContext(in)
	in.begin(ctx, ev, attempt)
	defer in.end()

	cfg := in.moduleConfig()
	out := 0
	var overflow bool
	in.stdout.max = min(p.opts.MaxEmitBytes, maxCommandOutput)
	in.stdout.capture = func(line []byte) {
		out += len(line) + 1
		if out > maxCommandOutput {
			overflow = true
			return
		}
		in.commandLine(line)
	}
	cfg = cfg.WithStdin(bytes.NewReader(event.AppendJSON(nil, ev))).WithStartFunctions("_start")

	mod, err := p.r.rt.InstantiateModule(in.ctx, p.c.mod, cfg)
	if mod != nil {
		in.mem = mod.ExportedMemory("memory")
		defer mod.Close(context.Background())
	}
	in.stdout.flush()
	p.instantiations.Add(1)
	var exit *sys.ExitError
	code := uint32(0)
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		res := in.failed(err)
		res.Err = err
		return res
	}
	if overflow {
		return Result{Status: Retry, Reason: fmt.Sprintf("command output exceeded %d bytes", maxCommandOutput)}
	}
	switch code {
	case 0:
		return in.outcome(0)
	case exDataErr:
		if in.reason == "" {
			in.reason = "command exited with code 65 (EX_DATAERR)"
		}
		return in.outcome(2)
	default:
		in.reason = fmt.Sprintf("command exited with code %d", code)
		if last := in.stderr.last; last != "" {
			in.reason += ": " + last
		}
		return in.outcome(1)
	}
}

// commandLine handles one line of a command module's stdout: a JSON object
// with "type" and "specversion" is an emitted event; anything else is a
// log line.
func (in *instance) commandLine(line []byte) {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var probe struct {
			Type        *string `json:"type"`
			SpecVersion *string `json:"specversion"`
		}
		if json.Unmarshal(trimmed, &probe) == nil && probe.Type != nil && probe.SpecVersion != nil {
			if in.reject != "" || !in.emitFits(len(trimmed)) {
				in.log(warnLevel, []byte(fmt.Sprintf("emit of %q refused with code %d", *probe.Type, codeLimit)))
				return
			}
			e, err := event.DecodeJSON(trimmed)
			if err != nil {
				in.log(warnLevel, []byte("emitted line is not a valid CloudEvent: "+err.Error()))
				return
			}
			if code := in.emitEvent(e); code != 0 {
				in.log(warnLevel, []byte(fmt.Sprintf("emit of %q refused with code %d", e.Type, code)))
			} else {
				in.emitted += len(trimmed)
			}
			return
		}
	}
	in.log(infoLevel, line)
}

const (
	infoLevel = slog.LevelInfo
	warnLevel = slog.LevelWarn
)
