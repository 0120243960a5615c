//go:build !wasip1

package pdk

// The native side: outside WebAssembly the host functions go to the stand-in
// host that package pdktest installs for one call. Outside such a call they
// behave as during a reactor's initialisation: log goes to standard error,
// config_get and kv_get find nothing, and the rest answer -3.

import (
	"fmt"
	"os"
	"slices"

	"github.com/evhost/evhost/plugins/pdk/internal/hostabi"
)

func init() {
	hostabi.Dispatch = func(h any, env []byte) int32 {
		fn, _ := h.(Handler)
		if f, ok := h.(func(*Event) error); ok {
			fn = f
		}
		return int32(dispatch(fn, env))
	}
}

func hostLog(level Level, msg string) {
	if h := hostabi.Current(); h != nil {
		h.Log(int32(level), msg)
		return
	}
	fmt.Fprintf(os.Stderr, "pdk %s: %s\n", level, msg)
}

func hostEmit(env []byte) int32 {
	if h := hostabi.Current(); h != nil {
		return h.Emit(env)
	}
	return -3
}

func hostFail(reason string) {
	if h := hostabi.Current(); h != nil {
		h.Fail(reason)
	}
}

// hostResult copies a result, as the host copies into a fresh guest block.
func hostResult(b []byte, code int32) ([]byte, int32) {
	if code != 0 {
		return nil, code
	}
	if b == nil {
		return []byte{}, 0
	}
	return slices.Clone(b), 0
}

func hostConfigGet(key string) ([]byte, int32) {
	if h := hostabi.Current(); h != nil {
		return hostResult(h.ConfigGet(key))
	}
	return nil, -1
}

func hostKVGet(key string) ([]byte, int32) {
	if h := hostabi.Current(); h != nil {
		return hostResult(h.KVGet(key))
	}
	return nil, -1
}

func hostKVSet(key string, value []byte) int32 {
	if h := hostabi.Current(); h != nil {
		return h.KVSet(key, value)
	}
	return -3
}

func hostKVDelete(key string) int32 {
	if h := hostabi.Current(); h != nil {
		return h.KVDelete(key)
	}
	return -3
}

func hostHTTPRequest(req []byte) ([]byte, int32) {
	if h := hostabi.Current(); h != nil {
		return hostResult(h.HTTPRequest(req))
	}
	return nil, -3
}
