package wasm_test

import (
	"context"
	"testing"
	"time"

	"github.com/evhost/evhost/host/wasm"
)

// The runtime's own reaper (no injected ticks): an instance idle past a
// short IdleTimeout is closed by it, and the plugin still serves.
func TestReaperClosesIdleInstances(t *testing.T) {
	r := newRuntime(t)
	const idle = 40 * time.Millisecond
	p := load(t, r, fixture(t, "trivial.wat"), wasm.PluginOptions{Name: "reaped", MinInstances: 0, IdleTimeout: idle})
	if res := p.Call(context.Background(), testEvent("t", "")); res.Status != wasm.Done {
		t.Fatal(res.Reason)
	}
	start := time.Now()
	for p.Stats().Instances != 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("instance not closed 10s after a %v idle timeout: %+v", idle, p.Stats())
		}
		time.Sleep(5 * time.Millisecond) // waiting for the reaper's real ticks
	}
	if took := time.Since(start); took < idle {
		t.Errorf("closed after %v, before its idle timeout of %v", took, idle)
	}
	if s := p.Stats(); s.IdleCloses != 1 {
		t.Fatalf("stats %+v", s)
	}
	if res := p.Call(context.Background(), testEvent("t", "")); res.Status != wasm.Done {
		t.Fatal(res.Reason)
	}
	if s := r.Stats(); s.IdleCloses != 1 || s.CompiledModules != 1 {
		t.Fatalf("runtime stats %+v", s)
	}
}
