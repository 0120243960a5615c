//go:build wasip1

package pdk

import (
	"runtime"
	"unsafe"
)

//go:wasmimport evhost kv_get
func wasmKVGet(keyPtr unsafe.Pointer, keyLen uint32) int64

//go:wasmimport evhost kv_set
func wasmKVSet(keyPtr unsafe.Pointer, keyLen uint32, valPtr unsafe.Pointer, valLen uint32) int32

//go:wasmimport evhost kv_delete
func wasmKVDelete(keyPtr unsafe.Pointer, keyLen uint32) int32

func hostKVGet(key string) ([]byte, int32) {
	inHostCall = true
	r := wasmKVGet(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)))
	inHostCall = false
	runtime.KeepAlive(key)
	return result(r)
}

func hostKVSet(key string, value []byte) int32 {
	r := wasmKVSet(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)),
		unsafe.Pointer(unsafe.SliceData(value)), uint32(len(value)))
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	return r
}

func hostKVDelete(key string) int32 {
	r := wasmKVDelete(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)))
	runtime.KeepAlive(key)
	return r
}
