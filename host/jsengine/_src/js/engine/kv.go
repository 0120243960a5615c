//go:build !evhost_nokv

package main

import (
	"github.com/dop251/goja"

	"github.com/evhost/evhost/plugins/pdk"
)

// nativeKV adds evhost.kv's functions. The module then imports kv_get,
// kv_set and kv_delete, which the host grants with kv = true; build with
// -tags evhost_nokv for an engine without them.
func nativeKV(vm *goja.Runtime, n *goja.Object) {
	n.Set("kvGet", func(key string) goja.Value {
		v, err := pdk.KVGet(key)
		if err != nil {
			return vm.ToValue(code(err))
		}
		return vm.ToValue(string(v))
	})
	n.Set("kvSet", func(c goja.FunctionCall) goja.Value {
		if err := pdk.KVSet(c.Argument(0).String(), bytesOf(c.Argument(1))); err != nil {
			return vm.ToValue(code(err))
		}
		return vm.ToValue(0)
	})
	n.Set("kvDelete", func(key string) goja.Value {
		if err := pdk.KVDelete(key); err != nil {
			return vm.ToValue(code(err))
		}
		return vm.ToValue(0)
	})
}
