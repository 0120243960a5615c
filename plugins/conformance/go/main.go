// Command conformance is the conformance handler (../SPEC.md) written with
// the Go PDK. internal/conformance, in the root module, builds it with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared and runs it through evhost's
// runtime beside the same handler in C, Rust and AssemblyScript.
package main

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/evhost/evhost/plugins/pdk"
)

func init() { pdk.Handle(handle) }

func main() {}

// code returns the ABI error code behind err, or 0.
func code(err error) int32 {
	var he *pdk.HostError
	if errors.As(err, &he) {
		return he.Code
	}
	return 0
}

func handle(e *pdk.Event) error {
	switch e.Type {
	case "echo":
		t, _ := e.Attr("time")
		opts := []pdk.EmitOption{
			pdk.WithExtension("origid", e.ID),
			pdk.WithExtension("origsource", e.Source),
			pdk.WithExtension("origtype", e.Type),
			pdk.WithExtension("origspec", e.SpecVersion),
			pdk.WithExtension("origtime", t),
		}
		if e.DataContentType != "" {
			opts = append(opts, pdk.WithDataContentType(e.DataContentType))
		}
		if e.Subject != "" {
			opts = append(opts, pdk.WithExtension("origsubject", e.Subject))
		}
		if tenant, ok := e.Extensions["tenant"]; ok {
			opts = append(opts, pdk.WithExtension("origtenant", tenant))
		}
		return pdk.Emit("echo.reply", e.Data, opts...)
	case "emit.options":
		return pdk.Emit("options.out", []byte(`{"ok":true}`),
			pdk.WithID("fixed-id-1"), pdk.WithSubject("sub/1"),
			pdk.WithDataContentType("application/json"),
			pdk.WithDataSchema("https://example.com/schema.json"),
			pdk.WithExtension("color", "blue"))
	case "reject":
		return pdk.Reject(errors.New("bad input"))
	case "retry":
		_ = pdk.Emit("retry.out", nil)
		return pdk.Retry(errors.New("try later"))
	case "config":
		g, ok := pdk.Config("greeting")
		if !ok {
			return errors.New("no greeting")
		}
		absent := "found"
		if _, ok := pdk.Config("absent"); !ok {
			absent = "notfound"
		}
		return pdk.Emit("config.value", []byte(g), pdk.WithExtension("absent", absent))
	case "kv":
		n := 0
		switch v, err := pdk.KVGet("counter"); {
		case errors.Is(err, pdk.ErrNotFound):
		case err != nil:
			return err
		default:
			n, _ = strconv.Atoi(string(v))
		}
		next := strconv.Itoa(n + 1)
		if err := pdk.KVSet("counter", []byte(next)); err != nil {
			return err
		}
		_, err := pdk.KVGet("bad key")
		return pdk.Emit("kv.count", []byte(next), pdk.WithExtension("badkey", strconv.Itoa(int(code(err)))))
	case "kv.delete":
		if err := pdk.KVDelete("counter"); err != nil {
			return err
		}
		got := "found"
		if _, err := pdk.KVGet("counter"); errors.Is(err, pdk.ErrNotFound) {
			got = "notfound"
		}
		return pdk.Emit("kv.deleted", []byte(got))
	case "http":
		resp, err := pdk.DoHTTP(&pdk.HTTPRequest{Method: "POST", URL: string(e.Data),
			Header: pdk.Header{"x-conformance": {"yes"}}, Body: []byte("ping")})
		if err != nil {
			return pdk.Emit("http.error", nil, pdk.WithExtension("code", strconv.Itoa(int(code(err)))))
		}
		return pdk.Emit("http.done", resp.Body,
			pdk.WithExtension("status", strconv.Itoa(resp.Status)),
			pdk.WithExtension("echoheader", resp.Header.Get("X-Echo")))
	case "log":
		pdk.Debug("debug line")
		pdk.Info("info line")
		pdk.Warn("warn line")
		pdk.Error("error line")
		return nil
	case "trap":
		panic("conformance trap")
	case "emit.many":
		var err error
		for i := 0; i < 1000 && err == nil; i++ {
			err = pdk.Emit("many.out", nil)
		}
		pdk.Warnf("emit refused: %d", code(err))
		return nil
	case "emit.large":
		n, err := strconv.Atoi(string(e.Data))
		if err != nil {
			return pdk.Reject(err)
		}
		return pdk.Emit("large.out", bytes.Repeat([]byte("x"), n))
	}
	return pdk.Reject(errors.New("unknown scenario"))
}
