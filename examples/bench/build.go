package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/evhost/evhost/internal/wasmbuild"
)

// modules are the guests of the benchmark, built at run time with the Go
// toolchain into wasmbuild's cache (built once per change of their
// sources; nothing built is committed).
type modules struct {
	bytecount  []byte // evhost PDK: host/wasm/testdata/goplugins/bytecount, the plugin of evhost's own benchmarks
	jsondecode []byte // evhost PDK: testdata/evhost/jsondecode
	extism     []byte // Extism go-pdk: testdata/extism, exports count and decode
}

// benchDir returns the directory of this package's sources: the working
// directory when it is this package, else the directory this file was
// compiled from.
func benchDir() string {
	if _, err := os.Stat("testdata/extism/main.go"); err == nil {
		return "."
	}
	_, file, _, ok := runtime.Caller(0)
	if ok {
		if _, err := os.Stat(filepath.Join(filepath.Dir(file), "testdata/extism/main.go")); err == nil {
			return filepath.Dir(file)
		}
	}
	return "."
}

// buildModules builds the guests; the JSON-decode plugin only if json.
func buildModules(json bool) (*modules, error) {
	dir := benchDir()
	m := &modules{}
	var err error
	if m.bytecount, err = build(filepath.Join(dir, "../../host/wasm/testdata/goplugins/bytecount")); err != nil {
		return nil, err
	}
	if json {
		if m.jsondecode, err = build(filepath.Join(dir, "testdata/evhost/jsondecode")); err != nil {
			return nil, err
		}
	}
	if m.extism, err = build(filepath.Join(dir, "testdata/extism")); err != nil {
		return nil, err
	}
	return m, nil
}

// build builds the Go package in dir as a reactor module
// (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared).
func build(dir string) (bin []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(buildFailure)
			if !ok {
				panic(r)
			}
			err = f.err
		}
	}()
	return wasmbuild.Go(tb{}, dir), nil
}

// tb adapts wasmbuild's test-oriented interface: a failure or a skip
// (a missing toolchain) becomes an error.
type tb struct{}

type buildFailure struct{ err error }

func (tb) Helper() {}
func (tb) Fatalf(format string, args ...any) {
	panic(buildFailure{fmt.Errorf(format, args...)})
}
func (tb) Skipf(format string, args ...any) {
	panic(buildFailure{fmt.Errorf("skipped: "+format, args...)})
}
