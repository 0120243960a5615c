package wasm

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/evhost/evhost/host/event"
)

var epoch = time.Now()

// nanotime is a monotonic clock reading in nanoseconds.
func nanotime() int64 { return int64(time.Since(epoch)) }

// instance is one instantiated module. It serves one call at a time; its
// per-call fields are touched only by the goroutine running that call
// (host functions run on the caller's goroutine).
type instance struct {
	p      *Plugin
	mod    api.Module
	mem    api.Memory
	alloc  api.Function
	handle api.Function
	// ctx is passed to every guest call: it carries the instance to the
	// host functions without a per-call allocation.
	ctx        context.Context
	stack      [2]uint64
	allocStack [1]uint64
	calls      int
	born       time.Time
	idleSince  int64 // the runtime's coarse clock when last released

	// State of the current call (or of _initialize).
	callCtx  context.Context
	ev       *event.Event
	attempt  int   // of the delivery, from 1; 0 when unknown
	deadline int64 // nanotime; 0 until the first check of the call
	emits    []*event.Event
	emitted  int    // bytes of the call's emits, added up
	reason   string // from fail
	reject   string // a limit was hit: dead-letter with this reason
	logBytes int
	dropped  int
	stdout   lineWriter
	stderr   lineWriter
}

// moduleConfig is the deny-by-default WASI configuration of an instance:
// no arguments, no directories, no environment beyond the granted one, an
// empty stdin, output as log lines, real clocks, crypto-quality random,
// and sleeps bounded by the call's deadline.
func (in *instance) moduleConfig() wazero.ModuleConfig {
	in.stdout = lineWriter{in: in, level: slog.LevelInfo}
	in.stderr = lineWriter{in: in, level: slog.LevelWarn}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(&in.stdout).
		WithStderr(&in.stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader).
		WithNanosleep(in.sleep).
		WithOsyield(func() {})
	for k, v := range in.p.opts.Env {
		cfg = cfg.WithEnv(k, v)
	}
	return cfg
}

// newInstance instantiates and initialises a reactor instance and checks
// its ABI version.
func newInstance(ctx context.Context, p *Plugin, cm wazero.CompiledModule) (*instance, error) {
	in := &instance{p: p, born: time.Now()}
	in.ctx = p.r.instanceContext(in)
	in.begin(ctx, nil, 0)
	defer in.end()
	mod, err := p.r.rt.InstantiateModule(in.ctx, cm, in.moduleConfig())
	if err != nil {
		return nil, refuse(p.name, err, "cannot instantiate module")
	}
	in.mod = mod
	in.mem = mod.ExportedMemory("memory")
	if in.mem == nil {
		for _, def := range cm.ExportedMemories() {
			if name := def.ExportNames(); len(name) > 0 {
				in.mem = mod.ExportedMemory(name[0])
				break
			}
		}
	}
	in.alloc = mod.ExportedFunction("evhost_alloc")
	in.handle = mod.ExportedFunction("evhost_handle")
	if p.c.init {
		if _, err := mod.ExportedFunction("_initialize").Call(in.ctx); err != nil {
			mod.Close(context.Background())
			return nil, refuse(p.name, err, "_initialize failed")
		}
	}
	res, err := mod.ExportedFunction("evhost_abi_version").Call(in.ctx)
	if err != nil {
		mod.Close(context.Background())
		return nil, refuse(p.name, err, "evhost_abi_version failed")
	}
	if v := int32(res[0]); v != ABIVersion {
		mod.Close(context.Background())
		err := refuse(p.name, nil, "module speaks ABI version %d; this host speaks version %d", v, ABIVersion)
		err.(*LoadError).abi = v
		return nil, err
	}
	p.instantiations.Add(1)
	return in, nil
}

func (in *instance) close() {
	if in.mod != nil {
		in.mod.Close(context.Background())
	}
}

// begin sets up the state of a call; ev is nil during _initialize.
func (in *instance) begin(ctx context.Context, ev *event.Event, attempt int) {
	in.callCtx = ctx
	in.ev = ev
	in.attempt = attempt
	in.deadline = 0
	in.reason = ""
	in.reject = ""
	in.emitted = 0
	in.logBytes = 0
	in.dropped = 0
}

// end flushes output and clears the state of a call.
func (in *instance) end() {
	in.stdout.flush()
	in.stderr.flush()
	if in.dropped > 0 {
		in.p.opts.Logger.Warn("plugin log lines dropped past the log cap",
			slog.Int("dropped", in.dropped), slog.Int("cap_bytes", in.p.opts.MaxLogBytes))
	}
	in.callCtx = nil
	in.ev = nil
	in.emits = nil
}

// call runs evhost_handle on ev.
func (in *instance) call(ctx context.Context, ev *event.Event, attempt int) Result {
	var res Result
	in.callInto(ctx, ev, attempt, &res)
	return res
}

// callInto is call writing its outcome to res, which the caller zeroed:
// the Result is built in place rather than copied up through each level
// (a few percent of a small handler's call).
func (in *instance) callInto(ctx context.Context, ev *event.Event, attempt int, res *Result) {
	in.begin(ctx, ev, attempt)
	in.run(ev, res)
	in.end()
}

func (in *instance) run(ev *event.Event, res *Result) {
	in.calls++
	size := event.EnvelopeSize(ev)
	in.allocStack[0] = uint64(size)
	if err := in.alloc.CallWithStack(in.ctx, in.allocStack[:]); err != nil {
		*res = in.failed(err)
		return
	}
	ptr := uint32(in.allocStack[0])
	buf, ok := in.mem.Read(ptr, uint32(size))
	if ptr == 0 || !ok {
		*res = in.failed(fmt.Errorf("%w: evhost_alloc(%d) returned %#x, outside memory", ErrGuestFault, size, ptr))
		return
	}
	if out := event.AppendEnvelope(buf[:0], ev); len(out) != size || &out[0] != &buf[0] {
		*res = in.failed(fmt.Errorf("wasm: envelope size mismatch (%d != %d)", len(out), size))
		return
	}
	in.stack[0], in.stack[1] = uint64(ptr), uint64(size)
	if err := in.handle.CallWithStack(in.ctx, in.stack[:]); err != nil {
		*res = in.failed(err)
		return
	}
	in.outcomeInto(int32(in.stack[0]), res)
}

// outcome maps a status returned by the guest (or a command's exit code,
// already mapped) to a Result.
func (in *instance) outcome(status int32) Result {
	var res Result
	in.outcomeInto(status, &res)
	return res
}

// outcomeInto is outcome writing to res, which the caller zeroed.
func (in *instance) outcomeInto(status int32, res *Result) {
	res.LogsDropped = in.dropped
	switch status {
	case 0:
		res.Status = Done
		res.Emits = in.emits
	case 1, 2:
		res.Status = Status(status)
		res.Reason = in.reason
		if res.Reason == "" {
			res.Reason = "handler returned status " + strconv.Itoa(int(status))
		}
	default:
		res.Status = Retry
		res.Err = fmt.Errorf("%w: evhost_handle returned unknown status %d", ErrGuestFault, status)
		res.Reason = res.Err.Error()
	}
	if in.reject != "" {
		res.Status, res.Reason, res.Emits = Reject, in.reject, nil
	}
}

// failed maps a failed guest call to a Result: a retry, or a dead letter
// when a limit that a retry would hit again was exceeded.
func (in *instance) failed(err error) Result {
	res := Result{Status: Retry, Err: err, LogsDropped: in.dropped}
	var exit *sys.ExitError
	switch {
	case errors.Is(err, ErrTimeout):
		res.Reason = "timeout: the call ran past " + in.p.opts.Timeout.String()
	case errors.Is(err, ErrCanceled):
		res.Reason = "canceled"
	case errors.As(err, &exit):
		res.Reason = "guest exited with code " + strconv.Itoa(int(exit.ExitCode()))
		if last := in.stderr.last; last != "" {
			res.Reason += ": " + last
		}
	default:
		res.Reason = firstLine(err.Error())
	}
	if in.mem != nil && uint64(in.mem.Size())+pageSize > uint64(in.p.c.memPages)*pageSize {
		res.Reason = fmt.Sprintf("memory limit of %d bytes reached: %s", in.p.opts.MemoryLimit, res.Reason)
	}
	if in.reject != "" {
		res.Status, res.Reason = Reject, in.reject+" ("+res.Reason+")"
	}
	return res
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// checkDeadline stops the guest, by panicking on its goroutine (wazero
// turns the panic into the call's error), once the deadline has passed or
// the caller's context has ended. The first check of a call starts the
// clock: before it the guest has run at most one tick's worth of steps.
func (in *instance) checkDeadline() {
	now := nanotime()
	switch {
	case in.deadline == 0:
		in.deadline = now + int64(in.p.opts.Timeout)
	case now >= in.deadline:
		panic(ErrTimeout)
	}
	if in.callCtx != nil && in.callCtx.Err() != nil {
		panic(ErrCanceled)
	}
}

// remaining returns the time left before the deadline, starting the clock
// if needed.
func (in *instance) remaining() time.Duration {
	in.checkDeadline()
	return time.Duration(in.deadline - nanotime())
}

// blockingContext bounds a blocking host function by the call's deadline.
func (in *instance) blockingContext() (context.Context, context.CancelFunc) {
	parent := in.callCtx
	if parent == nil {
		parent = context.Background()
	}
	return context.WithTimeout(parent, in.remaining())
}

// sleep implements WASI sleeps (poll_oneoff with a clock): it sleeps up to
// the deadline, then stops the guest.
func (in *instance) sleep(ns int64) {
	left := in.remaining()
	d, timedOut := time.Duration(ns), false
	if d >= left {
		d, timedOut = left, true
	}
	if d > 0 {
		t := time.NewTimer(d)
		var done <-chan struct{}
		if in.callCtx != nil {
			done = in.callCtx.Done()
		}
		select {
		case <-t.C:
		case <-done:
			t.Stop()
			panic(ErrCanceled)
		}
	}
	if timedOut {
		panic(ErrTimeout)
	}
}

// result places v in a block obtained from evhost_alloc and returns the
// packed (ptr << 32 | len) result of a host function.
func (in *instance) result(v string) uint64 {
	if len(v) == 0 {
		return 0
	}
	ptr := in.guestAlloc(len(v))
	in.mem.WriteString(ptr, v)
	return uint64(ptr)<<32 | uint64(len(v))
}

func (in *instance) resultBytes(v []byte) uint64 {
	if len(v) == 0 {
		return 0
	}
	ptr := in.guestAlloc(len(v))
	in.mem.Write(ptr, v)
	return uint64(ptr)<<32 | uint64(len(v))
}

// guestAlloc calls evhost_alloc re-entrantly. A failure or a block outside
// memory is a guest fault: the call traps.
func (in *instance) guestAlloc(n int) uint32 {
	if in.alloc == nil {
		panic(fmt.Errorf("%w: no evhost_alloc", ErrGuestFault))
	}
	in.allocStack[0] = uint64(n)
	if err := in.alloc.CallWithStack(in.ctx, in.allocStack[:]); err != nil {
		panic(err)
	}
	ptr := uint32(in.allocStack[0])
	if _, ok := in.mem.Read(ptr, uint32(n)); ptr == 0 || !ok {
		panic(fmt.Errorf("%w: evhost_alloc(%d) returned %#x, outside memory", ErrGuestFault, n, ptr))
	}
	return ptr
}

// log emits one plugin log line, attributed to the plugin and the event,
// within the log cap.
func (in *instance) log(level slog.Level, msg []byte) {
	if in.logBytes+len(msg) > in.p.opts.MaxLogBytes {
		in.dropped++
		return
	}
	in.logBytes += len(msg)
	l := in.p.opts.Logger
	ctx := in.callCtx
	if ctx == nil {
		ctx = context.Background()
	}
	if !l.Enabled(ctx, level) {
		return
	}
	if in.ev == nil {
		l.LogAttrs(ctx, level, string(msg))
		return
	}
	if in.attempt > 0 {
		l.LogAttrs(ctx, level, string(msg),
			slog.String("event_id", in.ev.ID), slog.String("event_type", in.ev.Type), slog.Int("attempt", in.attempt))
		return
	}
	l.LogAttrs(ctx, level, string(msg),
		slog.String("event_id", in.ev.ID), slog.String("event_type", in.ev.Type))
}

// emit handles the emit host function: decode, check, stamp, keep.
func (in *instance) emit(b []byte) int32 {
	if in.reject != "" {
		return codeLimit
	}
	if !in.emitFits(len(b)) {
		return codeLimit
	}
	e, err := decodeEmit(b)
	if err != nil {
		return codeMalformed
	}
	code := in.emitEvent(e)
	if code == 0 {
		in.emitted += len(b)
	}
	return code
}

// emitFits reports whether an emit of n bytes fits in the call's emit
// bytes cap; when it does not, the call is to be dead-lettered. It is
// checked before the emit is decoded, so that bytes past the cap are
// never copied.
func (in *instance) emitFits(n int) bool {
	if max := in.p.opts.MaxEmitBytes; n > max-in.emitted {
		in.reject = fmt.Sprintf("emit bytes limit exceeded: more than %d bytes emitted", max)
		return false
	}
	return true
}

// decodeEmit decodes an emitted envelope. The values of host-owned
// attributes are not read: the host replaces them.
func decodeEmit(b []byte) (*event.Event, error) {
	e := &event.Event{}
	data, err := event.WalkEnvelope(b, func(name, value []byte) error {
		switch string(name) {
		case event.AttrSource, event.AttrTime, event.AttrSpecVersion, event.ExtCausationID,
			event.ExtCorrelationID, event.ExtDepth, event.ExtTraceParent:
			return nil
		case event.AttrID:
			e.ID = string(value)
		case event.AttrType:
			e.Type = string(value)
		case event.AttrSubject:
			e.Subject = string(value)
		case event.AttrDataContentType:
			e.DataContentType = string(value)
		case event.AttrDataSchema:
			e.DataSchema = string(value)
		default:
			if len(value) > 0 {
				e.Extensions = append(e.Extensions, event.Attr{Name: string(name), Value: string(value)})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(data) > 0 {
		e.Data = append([]byte(nil), data...)
	}
	return e, nil
}

// emitEvent checks an emitted event against the limits and fills in the
// host-owned attributes (ABI v1, section 4).
func (in *instance) emitEvent(e *event.Event) int32 {
	o := &in.p.opts
	if e.Type == "" {
		return codeMalformed
	}
	for _, a := range e.Extensions {
		if event.ValidExtensionName(a.Name) != nil {
			return codeMalformed
		}
	}
	if o.AllowEmit != nil && !o.AllowEmit(e.Type) {
		return codeNotAllowed
	}
	if len(in.emits) >= o.MaxEmits {
		in.reject = fmt.Sprintf("emit limit exceeded: more than %d events emitted", o.MaxEmits)
		return codeLimit
	}
	parent := in.ev
	depth := event.ChildDepth(parent)
	if depth > o.MaxDepth {
		in.reject = fmt.Sprintf("depth limit exceeded: emitting %q at depth %d, limit %d", e.Type, depth, o.MaxDepth)
		return codeLimit
	}
	event.StampChild(e, parent, o.Source, o.Name, len(in.emits), time.Now().UTC())
	if event.CheckDelay(e, e.Time, 0) != nil {
		return codeMalformed // a delay or deliverat that is not one
	}
	in.emits = append(in.emits, e)
	return 0
}

// lineWriter turns a guest's stdout or stderr into plugin log lines.
type lineWriter struct {
	in    *instance
	level slog.Level
	buf   []byte
	last  string // the last line, kept for failure reasons
	// capture, when set, receives every complete line instead of the log
	// (command modules' stdout). Captured lines are split at newlines only:
	// a line longer than max bytes is not passed on, and the call is
	// dead-lettered.
	capture func(line []byte)
	max     int
	tooLong bool // a captured line passed max; the rest of the output is ignored
}

// maxLine is the length past which a log line with no newline yet is
// split.
const maxLine = 16 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	if w.capture != nil {
		return w.writeCaptured(p)
	}
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) >= maxLine {
				w.line(w.buf)
				w.buf = w.buf[:0]
			}
			break
		}
		if len(w.buf) > 0 {
			w.buf = append(w.buf, p[:i]...)
			w.line(w.buf)
			w.buf = w.buf[:0]
		} else {
			w.line(p[:i])
		}
		p = p[i+1:]
	}
	return n, nil
}

// writeCaptured splits captured output at newlines only: a line that is
// split anywhere else is not the line the guest wrote (an emitted JSON
// event would become two log lines and be lost).
func (w *lineWriter) writeCaptured(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && !w.tooLong {
		i := bytes.IndexByte(p, '\n')
		piece := p
		if i >= 0 {
			piece = p[:i]
		}
		if len(w.buf)+len(piece) > w.max {
			w.tooLong = true
			w.buf = nil
			w.in.reject = fmt.Sprintf("command wrote a stdout line longer than %d bytes", w.max)
			break
		}
		if i < 0 {
			w.buf = append(w.buf, p...)
			break
		}
		if len(w.buf) > 0 {
			w.buf = append(w.buf, piece...)
			w.line(w.buf)
			w.buf = w.buf[:0]
		} else {
			w.line(piece)
		}
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) flush() {
	if w.tooLong {
		return
	}
	if len(w.buf) > 0 {
		w.line(w.buf)
		w.buf = w.buf[:0]
	}
}

func (w *lineWriter) line(b []byte) {
	b = bytes.TrimRight(b, "\r")
	if w.capture != nil {
		w.capture(b)
		return
	}
	if len(b) > 0 {
		w.last = firstLine(string(b))
		if len(w.last) > 512 {
			w.last = w.last[:512]
		}
	}
	w.in.log(w.level, b)
}
