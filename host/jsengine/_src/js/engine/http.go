//go:build !evhost_nohttp

package main

import (
	"github.com/dop251/goja"

	"github.com/evhost/evhost/plugins/pdk"
)

// nativeHTTP adds evhost.http's function. The module then imports
// http_request, which the host grants with allowed_hosts; build with
// -tags evhost_nohttp for an engine without it.
func nativeHTTP(vm *goja.Runtime, n *goja.Object) {
	n.Set("http", func(c goja.FunctionCall) goja.Value {
		req := &pdk.HTTPRequest{Method: c.Argument(0).String(), URL: c.Argument(1).String(), Header: pdk.Header{},
			Body: bytesOf(c.Argument(3))}
		if h, ok := c.Argument(2).(*goja.Object); ok {
			for _, k := range h.Keys() {
				req.Header.Set(k, str(h, k))
			}
		}
		resp, err := pdk.DoHTTP(req)
		if err != nil {
			return vm.ToValue(code(err))
		}
		r := vm.NewObject()
		r.Set("status", resp.Status)
		hs := vm.NewObject()
		for k, v := range resp.Header {
			if len(v) > 0 {
				hs.Set(k, v[0])
			}
		}
		r.Set("headers", hs)
		r.Set("body", string(resp.Body))
		return r
	})
}
