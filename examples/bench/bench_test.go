package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestSmoke runs every variant once with tiny counts: each must handle
// every event it was given (a Run returns an error otherwise) and give a
// number, and the table must have a line per variant.
//
// Under the race detector, wazero compiles a Go plugin in about ten
// seconds instead of one: the variants that compile a new module every
// round (hot reload, cold start) are left to the test without it.
func TestSmoke(t *testing.T) {
	groups, json := "call,dispatch,durable,reload,memory,cold", "true"
	if raceEnabled {
		groups, json = "call,dispatch,durable,memory", "false"
		t.Log("race detector on: hot reload, cold start and the JSON-decode call are not run (compiling is ten times slower with it); go test without -race runs them")
	}
	var out, log bytes.Buffer
	err := run(context.Background(), []string{"-rounds", "1", "-call-time", "1ms", "-events", "300", "-durable-events", "300",
		"-only", groups, "-json=" + json}, &out, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Log("\n" + out.String())
	for _, want := range []string{
		"| call: byte count | evhost pool", "| call: byte count | raw wazero", "| call: byte count | Extism", "| call: byte count | native Go",
		"| call: JSON decode | evhost pool", "| call: JSON decode | Extism",
		"| in-process dispatch | evhost, memory bus, Go wasm plugin", "| in-process dispatch | evhost, memory bus, native handler",
		"| in-process dispatch | Watermill",
		"| durable (embedded JetStream) | evhost, Go wasm plugin", "| durable (embedded JetStream) | evhost, native handler",
		"| durable (embedded JetStream) | Watermill",
		"| hot reload, file watcher | evhost", "| hot reload, ReloadPlugin API | evhost",
		"| memory per warm instance | evhost", "| memory per warm instance | Extism",
		"| cold start, compilation cache on disk | evhost", "| cold start, compilation cache on disk | Extism",
		"| cold start, no compilation cache | evhost", "| cold start, no compilation cache | Extism",
	} {
		if raceEnabled && (strings.Contains(want, "hot reload") || strings.Contains(want, "cold start") || strings.Contains(want, "JSON")) {
			continue
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("no line %q in the table", want)
		}
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "| ") && strings.Contains(line, "| - |") {
			t.Errorf("no measurement: %s", line)
		}
	}
}

func TestWithVersion(t *testing.T) {
	a, b := withVersion([]byte("\x00asm\x01\x00\x00\x00"), 1), withVersion([]byte("\x00asm\x01\x00\x00\x00"), 2)
	if bytes.Equal(a, b) {
		t.Fatal("two versions, the same bytes")
	}
	// The section: id 0, size, name length, name, payload.
	sec := a[8:]
	if sec[0] != 0 || int(sec[1]) != len(sec)-2 || int(sec[2]) != len("evhost-bench-version") {
		t.Fatalf("bad custom section % x", sec)
	}
}
