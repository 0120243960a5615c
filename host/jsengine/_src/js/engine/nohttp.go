//go:build evhost_nohttp

package main

import "github.com/dop251/goja"

// nativeHTTP, in an engine built without HTTP: every request fails with -3
// (not permitted), as for a host outside the allow-list.
func nativeHTTP(vm *goja.Runtime, n *goja.Object) {
	n.Set("http", func(goja.FunctionCall) goja.Value { return vm.ToValue(-3) })
}
