package main

import (
	"testing"

	"github.com/dop251/goja"
)

// parseJSON gives what JSON.parse gives, and refuses what it refuses.
func TestParseJSON(t *testing.T) {
	vm := goja.New()
	stringify, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("stringify"))
	parse, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
	for _, in := range []string{
		`{"id":42,"product_id":"sku-1","qty":2}`, ` [1, -2.5e3, true, false, null, "a\"b\u00e9\n", {}, []] `,
		`{"nested":{"a":[{"b":9007199254740993}]}}`, `"x"`, `0`, `-0.5`, `{"a":1,"a":2}`,
	} {
		v, err := parseJSON(vm, []byte(in))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		want, err := parse(goja.Undefined(), vm.ToValue(in))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := stringify(goja.Undefined(), v)
		w, _ := stringify(goja.Undefined(), want)
		if got.String() != w.String() {
			t.Errorf("%s: %s, JSON.parse gives %s", in, got, w)
		}
	}
	for _, in := range []string{``, `{`, `{"a":}`, `[1,]`, `{"a":1,}`, `tru`, `01`, `1.`, `"\x"`, "\"a\nb\"", `{} x`, `{a:1}`, `--1`} {
		if _, err := parseJSON(vm, []byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
