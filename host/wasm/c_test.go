package wasm_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// The C plugin of examples/c-plugin, built with clang and wasi-libc, runs
// on the same ABI as the WAT and Go plugins: statuses, emits with the
// host-owned attributes, fail reasons, config values and log lines.
func TestCPlugin(t *testing.T) {
	bin := wasmbuild.C(t, filepath.Join("..", "..", "examples", "c-plugin"))
	logs, logger := newLogCapture()
	p := load(t, newRuntime(t), bin, wasm.PluginOptions{
		Name: "c", MinInstances: 1, Logger: logger, Config: map[string]string{"greeting": "hello"},
	})

	ev := testEvent("test.count", "hello world")
	res := p.Call(context.Background(), ev)
	if res.Status != wasm.Done || len(res.Emits) != 1 {
		t.Fatalf("%+v", res)
	}
	e := res.Emits[0]
	if e.Type != "bytes.counted" || string(e.Data) != `{"bytes":11,"id":"`+ev.ID+`"}` || e.Source != "evhost://plugins/c" {
		t.Fatalf("emitted %+v data %s", e, e.Data)
	}
	if c, _ := e.Ext("causationid"); c != ev.ID {
		t.Fatalf("causationid %q", c)
	}
	if l, ok := logs.find("handling test.count"); !ok || l.Attrs["event_id"] != ev.ID {
		t.Fatalf("log line %+v %v", l, ok)
	}

	if res := p.Call(context.Background(), testEvent("test.reject", "")); res.Status != wasm.Reject || res.Reason != "rejected by c plugin" {
		t.Fatalf("reject: %+v", res)
	}
	if res := p.Call(context.Background(), testEvent("test.retry", "")); res.Status != wasm.Retry || res.Emits != nil {
		t.Fatalf("retry: %+v", res)
	}
	res = p.Call(context.Background(), testEvent("test.config", ""))
	if res.Status != wasm.Done || len(res.Emits) != 1 || string(res.Emits[0].Data) != "hello" {
		t.Fatalf("config: %+v", res)
	}

	// A large event and many calls: the arena is reused, memory stays put.
	big := testEvent("test.count", string(make([]byte, 300_000)))
	for i := 0; i < 3; i++ {
		if res := p.Call(context.Background(), big); res.Status != wasm.Done {
			t.Fatalf("big event: %+v", res)
		}
	}
	if s := p.Stats(); s.Discards != 0 || s.Instantiations != 1 {
		t.Fatalf("stats %+v", s)
	}
}
