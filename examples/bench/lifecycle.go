package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/wasm"
)

// withVersion returns bin with a custom section that holds v appended:
// another module to every hash (evhost's, the compilation cache's) that
// runs the same code.
func withVersion(bin []byte, v int64) []byte {
	name := "evhost-bench-version"
	payload := strconv.AppendInt(nil, v, 10)
	body := append([]byte{byte(len(name))}, name...)
	body = append(body, payload...)
	out := append([]byte(nil), bin...)
	out = append(out, 0) // custom section
	for n := uint32(len(body)); ; {
		b := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			out = append(out, b|0x80)
			continue
		}
		out = append(out, b)
		break
	}
	return append(out, body...)
}

var versionSeq atomic.Int64

// reloadVariants: hot reload latency.
func reloadVariants(ctx context.Context, m *modules, tmp string, cleanups *[]func()) ([]*Variant, error) {
	var vs []*Variant

	// Hot reload: the plugin's file is replaced by a new module (the same
	// code with another custom section, so nothing is cached: it is
	// compiled), and the time is taken until the new version serves
	// (every call that starts after the swap uses it). With the file
	// watcher (what a deploy by copying a file gets: fsnotify, a 30 ms
	// debounce, the content hash) and with ReloadPlugin (what SIGHUP and
	// POST /v1/admin/reload do), both on a host under no load.
	for _, watch := range []bool{true, false} {
		dir, err := os.MkdirTemp(tmp, "reload")
		if err != nil {
			return nil, err
		}
		path, err := writeModule(dir, "bytecount", m.bytecount)
		if err != nil {
			return nil, err
		}
		h, err := newHost(ctx, dir, fmt.Sprintf(`
[host]
data_dir = "data"
[broker]
kind = "memory"
[plugins.count]
path = %q
events = ["order.placed"]
`, path), nil, host.Options{Watch: watch})
		if err != nil {
			return nil, err
		}
		*cleanups = append(*cleanups, func() { h.Close(context.Background()) })
		group := "hot reload, ReloadPlugin API"
		if watch {
			group = "hot reload, file watcher"
		}
		vs = append(vs, &Variant{Group: group, Name: "evhost: new module on disk -> new version serving", Unit: Millis, Baseline: true,
			Run: func(ctx context.Context) (float64, error) {
				bin := withVersion(m.bytecount, versionSeq.Add(1)+time.Now().UnixNano())
				want := wasm.Hash(bin)
				tmpFile := path + ".new"
				if err := os.WriteFile(tmpFile, bin, 0o644); err != nil {
					return 0, err
				}
				start := time.Now()
				if err := os.Rename(tmpFile, path); err != nil {
					return 0, err
				}
				if !watch {
					if err := h.ReloadPlugin(ctx, "count"); err != nil {
						return 0, err
					}
				}
				if err := waitFor("reload", func() bool { return h.Plugin("count").Hash() == want }); err != nil {
					return 0, err
				}
				return float64(time.Since(start).Microseconds()) / 1e3, nil
			}})
	}

	return vs, nil
}

// memoryVariants: memory per warm instance.
func memoryVariants(ctx context.Context, m *modules, tmp string, cleanups *[]func()) ([]*Variant, error) {
	var vs []*Variant
	// Memory per warm instance: the growth of the process's resident set
	// when a plugin whose module is already compiled warms 16 more
	// instances, divided by 16 (the Go guest's runtime, heap and stack
	// after initialisation: what each instance of a pool costs). Extism's
	// instance the same way, for reference.
	const instances = 16
	cacheDir := sharedCache()
	rt, err := wasm.NewRuntime(ctx, wasm.RuntimeOptions{CacheDir: cacheDir, Logger: quiet})
	if err != nil {
		return nil, err
	}
	*cleanups = append(*cleanups, func() { rt.Close(context.Background()) })
	warm, err := rt.Load(ctx, m.bytecount, wasm.PluginOptions{Name: "warm", Timeout: callTimeout, MemoryLimit: memoryLimit, MinInstances: 1, MaxInstances: 1})
	if err != nil {
		return nil, err
	}
	*cleanups = append(*cleanups, warm.Close)
	vs = append(vs, &Variant{Group: "memory per warm instance", Name: fmt.Sprintf("evhost pool (RSS growth of %d instances / %d)", instances, instances),
		Unit: Bytes, Baseline: true,
		Run: func(ctx context.Context) (float64, error) {
			before := rss()
			p, err := rt.Load(ctx, m.bytecount, wasm.PluginOptions{Name: "mem", Timeout: callTimeout, MemoryLimit: memoryLimit,
				MinInstances: instances, MaxInstances: instances})
			if err != nil {
				return 0, err
			}
			if s := p.Stats(); s.Instances != instances {
				p.Close()
				return 0, fmt.Errorf("%d instances warm, want %d", s.Instances, instances)
			}
			after := rss()
			p.Close()
			<-p.Done()
			return float64(after-before) / instances, nil
		}})
	ext, err := newExtism(ctx, m.extism, cacheDir)
	if err != nil {
		return nil, err
	}
	*cleanups = append(*cleanups, func() { ext.Close(context.Background()) })
	vs = append(vs, &Variant{Group: "memory per warm instance", Name: fmt.Sprintf("Extism instance, called once (RSS growth of %d / %d)", instances, instances),
		Unit: Bytes,
		Run: func(ctx context.Context) (float64, error) {
			before := rss()
			var ps []*extism.Plugin
			defer func() {
				for _, p := range ps {
					p.Close(ctx)
				}
			}()
			input := []byte{0} // an envelope with no attributes and no data
			for range instances {
				p, err := ext.Instance(ctx, extism.PluginInstanceConfig{ModuleConfig: wazero.NewModuleConfig()})
				if err != nil {
					return 0, err
				}
				ps = append(ps, p)
				// Extism initialises the Go runtime at the first call.
				if rc, _, err := p.CallWithContext(ctx, "count", input); err != nil || rc != 0 {
					return 0, fmt.Errorf("extism: rc %d, %v", rc, err)
				}
			}
			after := rss()
			return float64(after-before) / instances, nil
		}})

	return vs, nil
}

// coldVariants: cold start to the first handled event.
func coldVariants(ctx context.Context, m *modules, tmp string) ([]*Variant, error) {
	var vs []*Variant
	// Cold start to the first handled event: a new host (memory bus) in a
	// data directory, New + Start, publish one event, until the plugin has
	// handled it. Without a compilation cache (a new data directory each
	// time: the module is compiled) and with it (a data directory whose
	// cache a previous host filled: a restarted daemon).
	cachedDir, err := os.MkdirTemp(tmp, "cold-cached")
	if err != nil {
		return nil, err
	}
	if err := linkCache(cachedDir); err != nil {
		return nil, err
	}
	if _, err := coldStart(ctx, cachedDir, m.bytecount); err != nil { // fill the cache
		return nil, err
	}
	const cached, uncached = "cold start, compilation cache on disk", "cold start, no compilation cache"
	vs = append(vs, &Variant{Group: cached, Name: "evhost: New, Start, publish, first event handled", Unit: Millis, Baseline: true,
		Run: func(ctx context.Context) (float64, error) { return coldStart(ctx, cachedDir, m.bytecount) }})
	vs = append(vs, &Variant{Group: uncached, Name: "evhost: New, Start, publish, first event handled", Unit: Millis, Baseline: true,
		Run: func(ctx context.Context) (float64, error) {
			dir, err := os.MkdirTemp(tmp, "cold")
			if err != nil {
				return 0, err
			}
			defer os.RemoveAll(dir)
			return coldStart(ctx, dir, m.bytecount)
		}})
	extCache := sharedCache()
	if _, err := extismColdStart(ctx, m.extism, extCache); err != nil {
		return nil, err
	}
	vs = append(vs, &Variant{Group: cached, Name: "Extism: compile, instance, first call", Unit: Millis,
		Run: func(ctx context.Context) (float64, error) { return extismColdStart(ctx, m.extism, extCache) }})
	vs = append(vs, &Variant{Group: uncached, Name: "Extism: compile, instance, first call", Unit: Millis,
		Run: func(ctx context.Context) (float64, error) {
			dir, err := os.MkdirTemp(tmp, "extism-cold")
			if err != nil {
				return 0, err
			}
			defer os.RemoveAll(dir)
			return extismColdStart(ctx, m.extism, dir)
		}})
	return vs, nil
}

// coldStart starts a host with the byte-count plugin in dir and returns
// the milliseconds from host.New to the first event handled.
func coldStart(ctx context.Context, dir string, bin []byte) (float64, error) {
	path, err := writeModule(dir, "bytecount", bin)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	h, err := startHost(ctx, dir, fmt.Sprintf(`
[host]
data_dir = "data"
[broker]
kind = "memory"
[plugins.count]
path = %q
events = ["order.placed"]
`, path), nil, host.Options{})
	if err != nil {
		return 0, err
	}
	defer h.Close(context.Background())
	if _, err := h.Publish(ctx, freshEvents(1)[0]); err != nil {
		return 0, err
	}
	p := h.Plugin("count")
	if err := waitFor("cold start", func() bool { return p.Stats().Calls >= 1 }); err != nil {
		return 0, err
	}
	return float64(time.Since(start).Microseconds()) / 1e3, nil
}

// extismColdStart compiles the Extism plugin with the cache in cacheDir,
// makes an instance and calls it once, and returns the milliseconds it
// took.
func extismColdStart(ctx context.Context, bin []byte, cacheDir string) (float64, error) {
	start := time.Now()
	ext, err := newExtism(ctx, bin, cacheDir)
	if err != nil {
		return 0, err
	}
	defer ext.Close(ctx)
	p, err := ext.Instance(ctx, extism.PluginInstanceConfig{ModuleConfig: wazero.NewModuleConfig()})
	if err != nil {
		return 0, err
	}
	defer p.Close(ctx)
	input := benchEnvelope()
	if rc, _, err := p.CallWithContext(ctx, "count", input); err != nil || rc != 0 {
		return 0, fmt.Errorf("extism: rc %d, %v", rc, err)
	}
	return float64(time.Since(start).Microseconds()) / 1e3, nil
}

// rss returns the resident set of the process in bytes, after a garbage
// collection that returns freed memory to the system.
func rss() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
