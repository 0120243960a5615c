// Command mkengine builds every variant of the JavaScript engine (QuickJS,
// with clang for wasm32-wasi) and writes them gzip-compressed to a
// directory, for a release build of evhost that embeds them (`make
// engine`, then go build -tags evhost_jsengine ./cmd/evhost):
//
//	go run ./host/jsengine/mkengine host/jsengine/wasm
//
// With -raw it writes them uncompressed (engine.wasm, engine-kv.wasm, ...),
// for a plugin table with a path. It builds from the source host/jsengine
// embeds, through the same cache as a daemon without the embedded engine.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/evhost/evhost/host/jsengine"
)

func main() {
	raw := flag.Bool("raw", false, "write the modules uncompressed")
	flag.Usage = func() { fmt.Fprintln(os.Stderr, "usage: mkengine [-raw] DIR") }
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *raw); err != nil {
		fmt.Fprintln(os.Stderr, "mkengine:", err)
		os.Exit(1)
	}
}

func run(dir string, raw bool) error {
	if jsengine.Embedded() {
		return fmt.Errorf("build mkengine without the evhost_jsengine tag")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, v := range jsengine.Variants {
		b, err := jsengine.Module(context.Background(), v)
		if err != nil {
			return err
		}
		if raw {
			out := filepath.Join(dir, v.File())
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			fmt.Printf("%s: %d bytes\n", out, len(b))
			continue
		}
		var gz bytes.Buffer
		w, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		out := filepath.Join(dir, v.File()+".gz")
		if err := os.WriteFile(out, gz.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: %d bytes (%d gzip-compressed)\n", out, len(b), gz.Len())
	}
	return nil
}
