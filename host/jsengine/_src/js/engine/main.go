// Command engine is evhost's JavaScript engine plugin: a Go wasm plugin,
// built with the Go PDK, that runs a handler written in JavaScript (or
// TypeScript compiled to JavaScript) with the pure-Go engine goja, inside
// the plugin's sandbox. The handler's source is the plugin's config value
// "source"; a deployed JavaScript handler is this module plus that value.
//
// The source is a script that defines a global function handle(event), or
// a bundle that sets the global evhostHandler to an object with a handle
// function (esbuild --format=iife --global-name=evhostHandler). It is
// compiled and run once per instance, on the instance's first event; each
// event then costs one call of handle. See ../README.md.
package main

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"

	"github.com/dop251/goja"

	"github.com/evhost/evhost/plugins/pdk"
)

func init() { pdk.Handle(handle) }

func main() {}

//go:embed prelude.js
var prelude string

// engine is the instance's runtime and handler, made on the first event
// (config values are readable only within a handler call).
type engine struct {
	vm      *goja.Runtime
	handle  goja.Callable
	parse   goja.Callable // JSON.parse
	keys    [10]goja.Value
	initErr error
}

var eng *engine

func handle(e *pdk.Event) error {
	if eng == nil {
		eng = newEngine()
	}
	if eng.initErr != nil {
		return pdk.Retry(eng.initErr)
	}
	return eng.call(e)
}

func newEngine() *engine {
	g := &engine{vm: goja.New()}
	src, ok := pdk.Config("source")
	if !ok {
		g.initErr = errors.New("js engine: the plugin has no config value \"source\" (the handler's JavaScript)")
		return g
	}
	vm := g.vm
	parse, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
	g.parse = parse
	pre, err := vm.RunScript("evhost:prelude", prelude)
	if err != nil {
		g.initErr = fmt.Errorf("js engine: prelude: %v", err)
		return g
	}
	mk, _ := goja.AssertFunction(pre)
	api, err := mk(goja.Undefined(), g.native())
	if err != nil {
		g.initErr = fmt.Errorf("js engine: prelude: %v", err)
		return g
	}
	vm.Set("evhost", api)
	prog, err := goja.Compile("handler.js", src, false)
	if err != nil {
		g.initErr = fmt.Errorf("js engine: compile: %v", err)
		return g
	}
	if _, err := vm.RunProgram(prog); err != nil {
		g.initErr = fmt.Errorf("js engine: running the handler's top level: %v", err)
		return g
	}
	fn := vm.Get("handle")
	if fn == nil || goja.IsUndefined(fn) {
		if h := vm.Get("evhostHandler"); h != nil && !goja.IsUndefined(h) && !goja.IsNull(h) {
			fn = h.ToObject(vm).Get("handle")
		}
	}
	h, ok := goja.AssertFunction(fn)
	if !ok {
		g.initErr = errors.New("js engine: the source defines no function handle (a global, or evhostHandler.handle)")
		return g
	}
	g.handle = h
	for i, k := range []string{"id", "source", "type", "specversion", "subject", "time", "datacontenttype", "dataschema", "data", "extensions"} {
		g.keys[i] = vm.ToValue(k)
	}
	return g
}

// isJSON says whether a content type is JSON (application/json, or a
// +json suffix), ignoring parameters.
func isJSON(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(strings.ToLower(ct))
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}

func (g *engine) call(e *pdk.Event) error {
	vm := g.vm
	ev := vm.NewObject()
	set := func(i int, v string) {
		if v != "" {
			ev.Set(g.keys[i].String(), v)
		}
	}
	set(0, e.ID)
	set(1, e.Source)
	set(2, e.Type)
	set(3, e.SpecVersion)
	set(4, e.Subject)
	t, _ := e.Attr(pdk.AttrTime)
	set(5, t)
	set(6, e.DataContentType)
	set(7, e.DataSchema)
	if e.Data != nil {
		if isJSON(e.DataContentType) {
			v, err := parseJSON(vm, e.Data)
			if err != nil {
				_, err = g.parse(goja.Undefined(), vm.ToValue(string(e.Data)))
				return pdk.Rejectf("js engine: the event's data is not JSON: %v", err)
			}
			ev.Set("data", v)
		} else {
			ev.Set("data", string(e.Data))
		}
	}
	exts := vm.NewObject()
	for k, v := range e.Extensions {
		exts.Set(k, v)
	}
	ev.Set("extensions", exts)

	_, err := g.handle(goja.Undefined(), ev)
	if err == nil {
		return nil
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		if o, ok := ex.Value().(*goja.Object); ok {
			if kind := o.Get("evhostOutcome"); kind != nil {
				reason := errors.New(o.Get("message").String())
				if kind.String() == "reject" {
					return pdk.Reject(reason)
				}
				return pdk.Retry(reason)
			}
		}
		// Any other exception: retry with its text ("TypeError: ..."),
		// the stack logged at error. The runtime stays usable.
		pdk.Error("handler threw: " + ex.String())
		return pdk.Retry(errors.New(ex.Value().String()))
	}
	// An interrupt or a stack overflow: the runtime stays usable.
	pdk.Error("handler failed: " + err.Error())
	return pdk.Retry(err)
}

// code returns the ABI error code behind err (-2 for a local encoding error).
func code(err error) int64 {
	var he *pdk.HostError
	if errors.As(err, &he) {
		return int64(he.Code)
	}
	return -2
}

// bytesOf returns a string or byte value's bytes, nil for undefined or null.
func bytesOf(v goja.Value) []byte {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return nil
	}
	switch x := v.Export().(type) {
	case []byte:
		return x
	case goja.ArrayBuffer:
		return x.Bytes()
	}
	return []byte(v.String())
}

func str(o *goja.Object, key string) string {
	v := o.Get(key)
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return ""
	}
	return v.String()
}

// native is the object of Go functions that the prelude wraps.
func (g *engine) native() *goja.Object {
	vm := g.vm
	n := vm.NewObject()
	n.Set("log", func(level int, msg string) { pdk.Log(pdk.Level(level), msg) })
	n.Set("emit", func(c goja.FunctionCall) goja.Value {
		var opts []pdk.EmitOption
		if o, ok := c.Argument(2).(*goja.Object); ok {
			if v := str(o, "id"); v != "" {
				opts = append(opts, pdk.WithID(v))
			}
			if v := str(o, "subject"); v != "" {
				opts = append(opts, pdk.WithSubject(v))
			}
			if v := str(o, "datacontenttype"); v != "" {
				opts = append(opts, pdk.WithDataContentType(v))
			}
			if v := str(o, "dataschema"); v != "" {
				opts = append(opts, pdk.WithDataSchema(v))
			}
			if x, ok := o.Get("extensions").(*goja.Object); ok {
				for _, k := range x.Keys() {
					opts = append(opts, pdk.WithExtension(k, str(x, k)))
				}
			}
		}
		if err := pdk.Emit(c.Argument(0).String(), bytesOf(c.Argument(1)), opts...); err != nil {
			return vm.ToValue(code(err))
		}
		return vm.ToValue(0)
	})
	n.Set("config", func(key string) goja.Value {
		if v, ok := pdk.Config(key); ok {
			return vm.ToValue(v)
		}
		return goja.Null()
	})
	nativeKV(vm, n)
	nativeHTTP(vm, n)
	return n
}
