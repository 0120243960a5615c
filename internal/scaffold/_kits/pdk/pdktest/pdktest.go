//go:build !wasip1

// Package pdktest runs evhost plugin handlers natively, under plain go test,
// with a stand-in for the host.
//
// A Host plays the host side of ABI v1: Run encodes the event in the
// envelope encoding, and the pdk decodes it exactly as inside WebAssembly;
// each emit is encoded by the pdk and decoded and checked here as the host
// does (type required, no name twice, UTF-8, host-owned attributes
// replaced); config_get, kv_get/kv_set/kv_delete and http_request are
// answered from the Host's fields with the ABI's error codes. The result
// records the status, the failure reason, the events that the host would
// publish and the log lines.
//
// After the handler returns, Run overwrites the bytes of the event with '#'
// (Overwritten), as the host overwrites them with the next event: a handler
// that keeps a string or the Data of its event without copying it sees
// them change in tests too.
//
// Runs are serialised process-wide (the pdk's host functions are package
// state, as in one WebAssembly instance), so tests that use pdktest may run
// in parallel but their handler calls will not overlap.
//
// The package is built for native targets only (build constraint !wasip1).
package pdktest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/evhost/evhost/plugins/pdk"
	"github.com/evhost/evhost/plugins/pdk/internal/hostabi"
)

// Overwritten is the byte that Run writes over the event after the handler
// returns.
const Overwritten = '#'

// DefaultSource is the source that Host gives the plugin's emitted events
// when Host.Source is empty, and the source of a test event without one.
const DefaultSource = "/pdktest"

// Host is a stand-in for the evhost host. The zero value is ready to use:
// no configuration, an empty KV store, no HTTP allow-list, no emit cap. Set
// the fields before Run; a Host may serve several runs (the KV store
// persists between them, as it does on the real host). Its methods must not
// be called concurrently.
type Host struct {
	// Config holds the plugin's configuration values, as config_get
	// returns them (TOML strings as their text, other values as JSON).
	Config map[string]string
	// KV is the plugin's key-value space; nil is empty and is created on the
	// first KVSet. Tests may seed it and inspect it.
	KV map[string][]byte
	// HTTP answers http_request. Nil means no allow-list: every request
	// gets pdk.ErrNotPermitted. An error that wraps one of the pdk sentinel
	// errors returns its code; any other error returns -5 (transient).
	HTTP func(req *pdk.HTTPRequest) (*pdk.HTTPResponse, error)
	// MaxEmits caps the emits per event (0: no cap). An emit past the cap
	// gets pdk.ErrLimit and the event fails with StatusReject, as on the
	// real host.
	MaxEmits int
	// Source is the plugin's own URI, the source of emitted events;
	// DefaultSource when empty.
	Source string
	// Now returns the time for events without one and for emits;
	// time.Now when nil.
	Now func() time.Time

	seq int // event and emit counter, for generated ids
}

// Result is what one handler call produced.
type Result struct {
	// Status is what evhost_handle returned.
	Status pdk.Status
	// Reason is the last failure reason the plugin gave (fail), or "" when
	// the status is StatusDone.
	Reason string
	// Emits are the events the host would publish, in order, with the
	// host-owned attributes filled in. Empty unless Status is StatusDone:
	// emits take effect only with the handler's success.
	Emits []pdk.Event
	// Logs are the log lines of the call, in order.
	Logs []Log
}

// Log is one log line.
type Log struct {
	Level pdk.Level
	Text  string
}

// String returns "level: text".
func (l Log) String() string { return l.Level.String() + ": " + l.Text }

// Run runs the handler registered with pdk.Handle (by the init function of
// the plugin's package main, which go test runs too) on e.
func (h *Host) Run(e pdk.Event) *Result {
	return h.run(nil, e)
}

// RunHandler runs fn on e, whatever is registered.
func (h *Host) RunHandler(fn pdk.Handler, e pdk.Event) *Result {
	if fn == nil {
		panic("pdktest: RunHandler with a nil handler")
	}
	return h.run(fn, e)
}

func (h *Host) run(fn pdk.Handler, e pdk.Event) *Result {
	h.seq++
	if e.ID == "" {
		e.ID = "pdktest-" + strconv.Itoa(h.seq)
	}
	if e.Source == "" {
		e.Source = DefaultSource
	}
	if e.SpecVersion == "" {
		e.SpecVersion = "1.0"
	}
	if e.Time().IsZero() {
		e.SetTime(h.now())
	}
	env, err := e.AppendBinary(make([]byte, 0, 512))
	env = slices.Grow(env, hostabi.Padding) // the decoder reads ahead
	if err != nil {
		panic(fmt.Sprintf("pdktest: cannot encode the test event: %v", err))
	}
	c := &call{host: h, parent: &e}
	var st int32
	var handler any
	if fn != nil {
		handler = fn
	}
	hostabi.Run(c, func() { st = hostabi.Dispatch(handler, env) })
	// The host writes the next event over this one: so does Run, so that a
	// handler that keeps a string or the Data of its event without copying
	// it fails in tests too.
	for i := range env {
		env[i] = Overwritten
	}
	res := &Result{Status: pdk.Status(st), Logs: c.logs}
	switch {
	case c.limitHit != "":
		res.Status, res.Reason = pdk.StatusReject, c.limitHit
	case res.Status == pdk.StatusDone:
		res.Emits = c.emits
	case res.Status == pdk.StatusReject:
		res.Reason = c.reason
	default:
		res.Status, res.Reason = pdk.StatusRetry, c.reason
	}
	return res
}

func (h *Host) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// call is the hostabi.Host of one handler call.
type call struct {
	host     *Host
	parent   *pdk.Event
	mu       sync.Mutex // handlers may log from goroutines
	logs     []Log
	emits    []pdk.Event
	reason   string
	limitHit string
}

func (c *call) Log(level int32, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Copies, as the host copies out of the guest's memory: msg may alias
	// the event, which Run overwrites.
	c.logs = append(c.logs, Log{Level: pdk.Level(level), Text: strings.Clone(msg)})
}

func (c *call) Fail(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reason = strings.Clone(reason)
}

// Emit decodes and checks an emitted event as the host does.
func (c *call) Emit(env []byte) int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var e pdk.Event
	if err := e.UnmarshalBinary(env); err != nil || e.Type == "" {
		return -2
	}
	for name := range e.Extensions {
		if !validExtName(name) {
			return -2
		}
	}
	if c.host.MaxEmits > 0 && len(c.emits) >= c.host.MaxEmits {
		if c.limitHit == "" {
			c.limitHit = fmt.Sprintf("pdktest: more than %d emits per event", c.host.MaxEmits)
		}
		return -4
	}
	c.host.seq++
	p := c.parent
	if e.ID == "" {
		e.ID = "pdktest-" + strconv.Itoa(c.host.seq)
	}
	e.Source = c.host.Source
	if e.Source == "" {
		e.Source = DefaultSource
	}
	e.SpecVersion = "1.0"
	e.SetTime(c.host.now())
	if e.Extensions == nil {
		e.Extensions = map[string]string{}
	}
	depth, _ := strconv.Atoi(p.Extensions[pdk.ExtDepth])
	corr := p.Extensions[pdk.ExtCorrelationID]
	if corr == "" {
		corr = p.ID
	}
	e.Extensions[pdk.ExtCausationID] = p.ID
	e.Extensions[pdk.ExtCorrelationID] = corr
	e.Extensions[pdk.ExtDepth] = strconv.Itoa(depth + 1)
	delete(e.Extensions, pdk.ExtTraceParent)
	if tp := p.Extensions[pdk.ExtTraceParent]; tp != "" {
		e.Extensions[pdk.ExtTraceParent] = tp
	}
	c.emits = append(c.emits, e)
	return 0
}

// validExtName reports a CloudEvents extension name: lower-case ASCII
// letters and digits, not "data".
func validExtName(name string) bool {
	if name == "data" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if b := name[i]; !('a' <= b && b <= 'z' || '0' <= b && b <= '9') {
			return false
		}
	}
	return name != ""
}

func (c *call) ConfigGet(key string) ([]byte, int32) {
	v, ok := c.host.Config[key]
	if !ok {
		return nil, -1
	}
	return []byte(v), 0
}

func (c *call) KVGet(key string) ([]byte, int32) {
	if !validKey(key) {
		return nil, -2
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.host.KV[key]
	if !ok {
		return nil, -1
	}
	return v, 0
}

func (c *call) KVSet(key string, value []byte) int32 {
	if !validKey(key) {
		return -2
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.host.KV == nil {
		c.host.KV = map[string][]byte{}
	}
	c.host.KV[strings.Clone(key)] = append([]byte{}, value...)
	return 0
}

func (c *call) KVDelete(key string) int32 {
	if !validKey(key) {
		return -2
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.host.KV, key)
	return 0
}

// validKey reports a KV key of ABI v1: 1 to 256 bytes of [-/_=.A-Za-z0-9].
func validKey(key string) bool {
	if len(key) == 0 || len(key) > 256 {
		return false
	}
	for i := 0; i < len(key); i++ {
		switch b := key[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case b == '-', b == '/', b == '_', b == '=', b == '.':
		default:
			return false
		}
	}
	return true
}

// HTTPRequest decodes the request, asks Host.HTTP and encodes its answer, so
// both directions go through the ABI encoding.
func (c *call) HTTPRequest(req []byte) ([]byte, int32) {
	if c.host.HTTP == nil {
		return nil, -3
	}
	var r pdk.HTTPRequest
	if err := r.UnmarshalBinary(req); err != nil {
		return nil, -2
	}
	resp, err := c.host.HTTP(&r)
	if err != nil {
		return nil, code(err)
	}
	if resp == nil {
		return nil, -5
	}
	b, err := resp.MarshalBinary()
	if err != nil {
		return nil, -5
	}
	return b, 0
}

// code maps an error of a fake to its ABI code.
func code(err error) int32 {
	var he *pdk.HostError
	switch {
	case errors.As(err, &he):
		return he.Code
	case errors.Is(err, pdk.ErrNotFound):
		return -1
	case errors.Is(err, pdk.ErrMalformed):
		return -2
	case errors.Is(err, pdk.ErrNotPermitted):
		return -3
	case errors.Is(err, pdk.ErrLimit):
		return -4
	}
	return -5
}
