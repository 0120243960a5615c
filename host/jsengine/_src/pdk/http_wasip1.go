//go:build wasip1

package pdk

import (
	"runtime"
	"unsafe"
)

//go:wasmimport evhost http_request
func wasmHTTPRequest(reqPtr unsafe.Pointer, reqLen uint32) int64

func hostHTTPRequest(req []byte) ([]byte, int32) {
	inHostCall = true
	r := wasmHTTPRequest(unsafe.Pointer(unsafe.SliceData(req)), uint32(len(req)))
	inHostCall = false
	runtime.KeepAlive(req)
	return result(r)
}
