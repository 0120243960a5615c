//go:build evhost_nokv

package main

import "github.com/dop251/goja"

// nativeKV, in an engine built without KV: every call fails with -3 (not
// permitted), as on a host that does not grant it.
func nativeKV(vm *goja.Runtime, n *goja.Object) {
	refused := func(goja.FunctionCall) goja.Value { return vm.ToValue(-3) }
	n.Set("kvGet", refused)
	n.Set("kvSet", refused)
	n.Set("kvDelete", refused)
}
