package wasm

import (
	"context"
	"errors"
	"log/slog"
	"net/textproto"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/kv"
)

// Error codes returned to the guest by host functions (ABI v1, section 6).
const (
	codeNotFound    int32 = -1
	codeMalformed   int32 = -2
	codeNotAllowed  int32 = -3
	codeLimit       int32 = -4
	codeUnavailable int32 = -5
)

// ret32 and ret64 put an i32 or i64 result on the stack.
func ret32(c int32) uint64 { return uint64(uint32(c)) }
func ret64(c int32) uint64 { return uint64(int64(c)) }

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// hostSigs are the signatures of the evhost host functions (ABI v1,
// section 3).
var hostSigs = map[string]sig{
	"log":          {params: []api.ValueType{i32, i32, i32}},
	"emit":         {params: []api.ValueType{i32, i32}, results: []api.ValueType{i32}},
	"fail":         {params: []api.ValueType{i32, i32}},
	"config_get":   {params: []api.ValueType{i32, i32}, results: []api.ValueType{i64}},
	"kv_get":       {params: []api.ValueType{i32, i32}, results: []api.ValueType{i64}},
	"kv_set":       {params: []api.ValueType{i32, i32, i32, i32}, results: []api.ValueType{i32}},
	"kv_delete":    {params: []api.ValueType{i32, i32}, results: []api.ValueType{i32}},
	"http_request": {params: []api.ValueType{i32, i32}, results: []api.ValueType{i64}},
}

// hostGrant names the capability a host function needs ("" for none).
var hostGrant = map[string]string{
	"kv_get": "kv", "kv_set": "kv", "kv_delete": "kv", "http_request": "http",
}

type instKey struct{}

// instanceOf returns the instance whose call is running: every call and
// instantiation passes a context that carries it.
func instanceOf(ctx context.Context) *instance {
	in, _ := ctx.Value(instKey{}).(*instance)
	return in
}

func instantiateHost(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(HostModule)
	fn := func(name string, f api.GoModuleFunc) {
		s := hostSigs[name]
		b.NewFunctionBuilder().WithGoModuleFunction(f, s.params, s.results).Export(name)
	}
	fn("log", hostLog)
	fn("emit", hostEmit)
	fn("fail", hostFail)
	fn("config_get", hostConfigGet)
	fn("kv_get", hostKVGet)
	fn("kv_set", hostKVSet)
	fn("kv_delete", hostKVDelete)
	fn("http_request", hostHTTPRequest)
	_, err := b.Instantiate(ctx)
	return err
}

func instantiateTick(ctx context.Context, rt wazero.Runtime) error {
	_, err := rt.NewHostModuleBuilder(tickModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostTick), nil, []api.ValueType{i32}).
		Export(tickName).
		Instantiate(ctx)
	return err
}

// hostTick is called by instrumented guest code every fuel steps. It stops
// the guest, by panicking on the guest's own goroutine, once the call's
// deadline has passed or its context has ended; otherwise it refills the
// counter.
func hostTick(ctx context.Context, _ api.Module, stack []uint64) {
	if in := instanceOf(ctx); in != nil {
		in.checkDeadline()
	}
	stack[0] = fuel
}

// read returns guest memory [ptr, ptr+n) or false when it lies outside.
func read(mod api.Module, ptr, n uint64) ([]byte, bool) {
	return mod.Memory().Read(uint32(ptr), uint32(n))
}

func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	b, ok := read(mod, stack[1], stack[2])
	if in == nil || !ok {
		return
	}
	var level slog.Level
	switch int32(stack[0]) {
	case 0:
		level = slog.LevelDebug
	case 1:
		level = slog.LevelInfo
	case 2:
		level = slog.LevelWarn
	default:
		level = slog.LevelError
	}
	in.log(level, b)
}

func hostFail(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	b, ok := read(mod, stack[0], stack[1])
	if in == nil || !ok || in.ev == nil {
		return
	}
	in.reason = string(b)
}

func hostEmit(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	b, ok := read(mod, stack[0], stack[1])
	switch {
	case !ok:
		stack[0] = ret32(codeMalformed)
	case in == nil || in.ev == nil:
		stack[0] = ret32(codeNotAllowed)
	default:
		stack[0] = ret32(in.emit(b))
	}
}

func hostConfigGet(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	key, ok := read(mod, stack[0], stack[1])
	if !ok || in == nil {
		stack[0] = ret64(codeMalformed)
		return
	}
	v, found := in.p.opts.Config[string(key)]
	if !found {
		stack[0] = ret64(codeNotFound)
		return
	}
	stack[0] = in.result(v)
}

// kvCall checks what every kv_* function needs (the instance, a key in
// memory, a KV grant, a valid key) and runs op with the call's deadline.
// It returns the ABI code of the first problem, or of op's error.
func kvCall(ctx context.Context, mod api.Module, keyPtr, keyLen uint64, op func(ctx context.Context, store kv.Store, key string) error) int32 {
	in := instanceOf(ctx)
	key, ok := read(mod, keyPtr, keyLen)
	switch {
	case !ok || in == nil:
		return codeMalformed
	case in.p.opts.KV == nil:
		return codeNotAllowed
	case !validKVKey(key):
		return codeMalformed
	}
	cctx, cancel := in.blockingContext()
	err := op(cctx, in.p.opts.KV, string(key))
	cancel()
	in.checkDeadline()
	if err != nil {
		return kvCode(err)
	}
	return 0
}

func hostKVGet(ctx context.Context, mod api.Module, stack []uint64) {
	var v []byte
	code := kvCall(ctx, mod, stack[0], stack[1], func(ctx context.Context, store kv.Store, key string) (err error) {
		v, err = store.Get(ctx, key)
		return err
	})
	if code != 0 {
		stack[0] = ret64(code)
		return
	}
	stack[0] = instanceOf(ctx).resultBytes(v)
}

func hostKVSet(ctx context.Context, mod api.Module, stack []uint64) {
	val, ok := read(mod, stack[2], stack[3])
	if !ok {
		stack[0] = ret32(codeMalformed)
		return
	}
	stack[0] = ret32(kvCall(ctx, mod, stack[0], stack[1], func(ctx context.Context, store kv.Store, key string) error {
		return store.Set(ctx, key, append([]byte(nil), val...))
	}))
}

func hostKVDelete(ctx context.Context, mod api.Module, stack []uint64) {
	stack[0] = ret32(kvCall(ctx, mod, stack[0], stack[1], func(ctx context.Context, store kv.Store, key string) error {
		if err := store.Delete(ctx, key); !errors.Is(err, kv.ErrNotFound) {
			return err
		}
		return nil
	}))
}

func kvCode(err error) int32 {
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return codeNotFound
	case errors.Is(err, kv.ErrQuota):
		return codeLimit
	}
	return codeUnavailable
}

// validKVKey reports whether key is 1 to 256 bytes of [-/_=.A-Za-z0-9].
func validKVKey(key []byte) bool {
	if len(key) == 0 || len(key) > 256 {
		return false
	}
	for _, c := range key {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '/' || c == '_' || c == '=' || c == '.':
		default:
			return false
		}
	}
	return true
}

func hostHTTPRequest(ctx context.Context, mod api.Module, stack []uint64) {
	in := instanceOf(ctx)
	b, ok := read(mod, stack[0], stack[1])
	if !ok || in == nil {
		stack[0] = ret64(codeMalformed)
		return
	}
	if in.p.opts.HTTP == nil {
		stack[0] = ret64(codeNotAllowed)
		return
	}
	req, err := decodeHTTPRequest(b)
	if err != nil {
		stack[0] = ret64(codeMalformed)
		return
	}
	cctx, cancel := in.blockingContext()
	resp, err := in.p.opts.HTTP.Do(cctx, req)
	cancel()
	in.checkDeadline()
	if err != nil {
		stack[0] = ret64(httpCode(err))
		return
	}
	stack[0] = in.resultBytes(encodeHTTPResponse(resp))
}

func httpCode(err error) int32 {
	switch {
	case errors.Is(err, ErrNotAllowed):
		return codeNotAllowed
	case errors.Is(err, ErrTooLarge):
		return codeLimit
	}
	return codeUnavailable
}

// HTTPRequest is an outbound request a plugin makes with http_request.
type HTTPRequest struct {
	Method string
	URL    string
	Header map[string][]string // canonical header names
	Body   []byte
}

// HTTPResponse is the answer to an HTTPRequest.
type HTTPResponse struct {
	Status int
	Header map[string][]string
	Body   []byte
}

func decodeHTTPRequest(b []byte) (*HTTPRequest, error) {
	req := &HTTPRequest{Header: map[string][]string{}}
	body, err := event.WalkEnvelope(b, func(name, value []byte) error {
		switch n := string(name); {
		case n == "method":
			req.Method = string(value)
		case n == "url":
			req.URL = string(value)
		case len(n) > 7 && n[:7] == "header.":
			h := textproto.CanonicalMIMEHeaderKey(n[7:])
			req.Header[h] = append(req.Header[h], string(value))
		default:
			return errors.New("unknown attribute " + n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if req.URL == "" || !utf8.ValidString(req.URL) {
		return nil, errors.New("missing url")
	}
	if req.Method == "" {
		req.Method = "GET"
	}
	req.Body = append([]byte(nil), body...)
	return req, nil
}

func encodeHTTPResponse(r *HTTPResponse) []byte {
	var b []byte
	b = event.AppendAttr(b, "status", strconv.Itoa(r.Status))
	for name, vs := range r.Header {
		for _, v := range vs {
			b = event.AppendAttr(b, "header."+strings.ToLower(name), v)
		}
	}
	b = append(b, 0)
	return append(b, r.Body...)
}
