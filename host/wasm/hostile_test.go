package wasm_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host/kv"
	"github.com/evhost/evhost/host/wasm"
)

// A hostile guest fails its own call only: the same runtime keeps serving
// a healthy plugin, and the hostile plugin's next call gets a fresh
// instance.
func TestHostileGuests(t *testing.T) {
	r := newRuntime(t)
	healthy := load(t, r, fixture(t, "echo.wat"), wasm.PluginOptions{Name: "healthy"})
	for _, tc := range []struct {
		fixture string
		opts    wasm.PluginOptions
		status  wasm.Status
		reason  string
		err     error
	}{
		{"loop.wat", wasm.PluginOptions{Timeout: 50 * time.Millisecond}, wasm.Retry, "timeout", wasm.ErrTimeout},
		{"recurse.wat", wasm.PluginOptions{Timeout: 50 * time.Millisecond}, wasm.Retry, "timeout", wasm.ErrTimeout},
		{"sleep.wat", wasm.PluginOptions{Timeout: 50 * time.Millisecond}, wasm.Retry, "timeout", wasm.ErrTimeout},
		{"trap.wat", wasm.PluginOptions{}, wasm.Retry, "unreachable", nil},
		{"membomb.wat", wasm.PluginOptions{MemoryLimit: 8 << 20}, wasm.Retry, "memory limit", nil},
		{"emitflood.wat", wasm.PluginOptions{MaxEmits: 50}, wasm.Reject, "emit limit exceeded", nil},
		{"logflood.wat", wasm.PluginOptions{MaxLogBytes: 4096}, wasm.Done, "", nil},
		{"emitbig.wat", wasm.PluginOptions{}, wasm.Reject, "emit bytes limit exceeded: more than 4194304 bytes", nil},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			tc.opts.Name = strings.TrimSuffix(tc.fixture, ".wat")
			p := load(t, r, fixture(t, tc.fixture), tc.opts)
			start := time.Now()
			res := p.Call(context.Background(), testEvent("t", ""))
			took := time.Since(start)
			if res.Status != tc.status || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("status %v reason %q err %v, want %v with %q", res.Status, res.Reason, res.Err, tc.status, tc.reason)
			}
			if tc.err != nil && !errors.Is(res.Err, tc.err) {
				t.Fatalf("err = %v, want %v", res.Err, tc.err)
			}
			if tc.opts.Timeout > 0 && took > 10*tc.opts.Timeout+time.Second {
				t.Errorf("call took %v with a %v timeout", took, tc.opts.Timeout)
			}
			if tc.fixture == "logflood.wat" && res.LogsDropped == 0 {
				t.Errorf("log flood: no line dropped")
			}
			// The hostile plugin serves again on a fresh instance, and the
			// healthy one never noticed.
			if res.Err != nil {
				if s := p.Stats(); s.Discards != 1 {
					t.Errorf("stats after a failure: %+v", s)
				}
			}
			if hr := healthy.Call(context.Background(), testEvent("t", "ehi")); hr.Status != wasm.Done || len(hr.Emits) != 1 {
				t.Fatalf("healthy plugin after %s: %+v", tc.fixture, hr)
			}
		})
	}
}

// A guest spinning in a loop must not stop the rest of the process: other
// goroutines, garbage collection included, keep running while it spins
// until its deadline.
func TestSpinningGuestDoesNotFreezeTheProcess(t *testing.T) {
	r := newRuntime(t)
	spin := load(t, r, fixture(t, "loop.wat"), wasm.PluginOptions{Timeout: 2 * time.Second, MaxInstances: 2})
	healthy := load(t, r, fixture(t, "echo.wat"), wasm.PluginOptions{Name: "healthy"})
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spin.Call(context.Background(), testEvent("t", ""))
		}()
	}
	go func() { wg.Wait(); close(done) }()
	// While both spin (2 s each), GCs and healthy calls complete: were the
	// spinning goroutines not preemptible, the first GC would stop the
	// world until they end.
	during := 0
	for {
		runtime.GC()
		if res := healthy.Call(context.Background(), testEvent("t", "")); res.Status != wasm.Done {
			t.Fatalf("%+v", res)
		}
		select {
		case <-done:
			if during < 5 {
				t.Fatalf("only %d GC+call rounds completed while two guests spun", during)
			}
			return
		default:
			during++
		}
	}
}

// Cancelling the caller's context stops a running guest.
func TestCancelStopsGuest(t *testing.T) {
	r := newRuntime(t)
	for _, fx := range []string{"loop.wat", "sleep.wat"} {
		p := load(t, r, fixture(t, fx), wasm.PluginOptions{Timeout: time.Minute})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(20 * time.Millisecond); cancel() }()
		res := p.Call(ctx, testEvent("t", ""))
		if !errors.Is(res.Err, wasm.ErrCanceled) || res.Status != wasm.Retry {
			t.Fatalf("%s: %+v", fx, res)
		}
	}
}

func TestLoadRefusals(t *testing.T) {
	r := newRuntime(t)
	for _, tc := range []struct {
		fixture string
		opts    wasm.PluginOptions
		want    string
	}{
		{"garbage.wasm", wasm.PluginOptions{}, "refused"},
		{"badsection.wasm", wasm.PluginOptions{}, "refused"},
		{"badabi.wat", wasm.PluginOptions{}, "ABI version 2"},
		{"missing_handle.wat", wasm.PluginOptions{}, "evhost_handle"},
		{"both_start.wat", wasm.PluginOptions{}, "build it as a reactor"},
		{"neither.wat", wasm.PluginOptions{}, "neither a reactor"},
		{"badimport.wat", wasm.PluginOptions{}, "evhost.no_such_function: not offered"},
		{"kvimport.wat", wasm.PluginOptions{}, "evhost.kv_get: not granted"},
		{"httpimport.wat", wasm.PluginOptions{}, "evhost.http_request: not granted"},
		{"inittrap.wat", wasm.PluginOptions{}, "_initialize failed"},
		{"badsig.wat", wasm.PluginOptions{}, "signature"},
		{"envimport.wat", wasm.PluginOptions{}, "not offered"},
		{"membomb.wat", wasm.PluginOptions{MemoryLimit: 1}, ""}, // 1 page cap is fine for 1 initial page
		{"tablemin.wat", wasm.PluginOptions{MemoryLimit: 128 << 10}, "memory limit of 131072 bytes (tables: at most 2048 elements of 8 bytes, charged to it): instrument: tables have 1000000 initial elements, more than the limit of 2048 elements"},
		{"tablemin.wat", wasm.PluginOptions{}, ""},
		{"tablebomb.wat", wasm.PluginOptions{MemoryLimit: 64 << 10}, ""}, // a one-page limit still loads a module with a table
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			tc.opts.Name = tc.fixture
			p, err := r.Load(context.Background(), fixture(t, tc.fixture), tc.opts)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				p.Close()
				return
			}
			if err == nil {
				p.Close()
				t.Fatalf("loaded; want a refusal containing %q", tc.want)
			}
			if !errors.Is(err, wasm.ErrInvalidModule) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidModule containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.fixture) {
				t.Fatalf("error does not name the plugin: %v", err)
			}
		})
	}
}

func TestCapabilityGrantsLoad(t *testing.T) {
	r := newRuntime(t)
	load(t, r, fixture(t, "kvimport.wat"), wasm.PluginOptions{KV: kv.NewMemory(1 << 20)})
}

func TestAllocFaults(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixture(t, "alloc_oob.wat"), wasm.PluginOptions{})
	if res := p.Call(context.Background(), testEvent("t", "")); !errors.Is(res.Err, wasm.ErrGuestFault) || res.Status != wasm.Retry {
		t.Fatalf("alloc outside memory: %+v", res)
	}
	p = load(t, r, fixture(t, "alloc_zero.wat"), wasm.PluginOptions{Config: map[string]string{"greeting": "hello"}})
	if res := p.Call(context.Background(), testEvent("t", "")); res.Status != wasm.Retry || res.Err == nil || !strings.Contains(res.Reason, "guest fault") {
		t.Fatalf("alloc 0 for a result: %+v", res)
	}
	if s := p.Stats(); s.Discards != 1 {
		t.Fatalf("faulted instance not discarded: %+v", s)
	}
	p = load(t, r, fixture(t, "alloc_zero.wat"), wasm.PluginOptions{})
	if res := p.Call(context.Background(), testEvent("t", "")); res.Status != wasm.Done {
		t.Fatalf("no result to place: %+v", res)
	}
}

// A plugin growing its table by 8 Mi elements (64 MiB of host memory) per
// call: table.grow returns -1 once past the room the memory limit leaves
// for tables, every call is done, the same instance serves them all, and
// the host's heap does not grow.
func TestTableGrowthIsCapped(t *testing.T) {
	r := newRuntime(t)
	for _, limit := range []uint64{64 << 10, 128 << 10, 0} { // 0: the default, 64 MiB
		t.Run(fmt.Sprintf("memory=%d", limit), func(t *testing.T) {
			p := load(t, r, fixture(t, "tablebomb.wat"), wasm.PluginOptions{Name: "tablebomb", MemoryLimit: limit, MinInstances: 1, MaxInstances: 1})
			before := heapInuse()
			for i := range 4 {
				if res := p.Call(context.Background(), testEvent("t", "")); res.Status != wasm.Done {
					t.Errorf("call %d: status %v reason %q err %v; want done (table.grow returned -1)", i, res.Status, res.Reason, res.Err)
				}
			}
			if grew := int64(heapInuse()) - int64(before); grew > 16<<20 {
				t.Errorf("Go heap grew by %d MiB over 4 calls", grew>>20)
			}
			if s := p.Stats(); s.Instantiations != 1 || s.Discards != 0 {
				t.Errorf("stats %+v, want the one instance to serve every call", s)
			}
		})
	}
}

// heapInuse returns the bytes in use in the Go heap after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// The emit bytes cap counts the encodings of a call's emits: echo's "E<n>"
// emits the 18-byte envelope {type: echo.out} n times.
func TestEmitBytesCap(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixture(t, "echo.wat"), wasm.PluginOptions{MaxEmitBytes: 3 * 18})
	if res := p.Call(context.Background(), testEvent("t", "E3")); res.Status != wasm.Done || len(res.Emits) != 3 {
		t.Fatalf("3 emits of 18 bytes under a cap of 54: status %v reason %q, %d emits", res.Status, res.Reason, len(res.Emits))
	}
	res := p.Call(context.Background(), testEvent("t", "E4"))
	if res.Status != wasm.Reject || !strings.Contains(res.Reason, "emit bytes limit exceeded: more than 54 bytes") || res.Emits != nil {
		t.Fatalf("4 emits of 18 bytes under a cap of 54: %+v", res)
	}
	// The cap is per call: the next call starts from zero.
	if res := p.Call(context.Background(), testEvent("t", "E3")); res.Status != wasm.Done || len(res.Emits) != 3 {
		t.Fatalf("next call: status %v reason %q, %d emits", res.Status, res.Reason, len(res.Emits))
	}
}

// A command module's long JSON line, written in pieces with no newline
// until its end, is one emitted event; a line longer than the line cap
// (the emit bytes cap) fails the call rather than being split or lost.
func TestCommandLongLine(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, fixture(t, "cmd_longline.wat"), wasm.PluginOptions{})
	if p.Kind() != wasm.Command {
		t.Fatalf("kind %v", p.Kind())
	}
	res := p.Call(context.Background(), testEvent("t", ""))
	if res.Status != wasm.Done || len(res.Emits) != 1 {
		t.Fatalf("status %v reason %q, %d emits; want done with one emit", res.Status, res.Reason, len(res.Emits))
	}
	if e := res.Emits[0]; e.Type != "cmd.out" || string(e.Data) != `"`+strings.Repeat("a", 20000)+`"` { // JSON data, kept as JSON
		t.Fatalf("emit %s with %d bytes of data", e.Type, len(e.Data))
	}

	p = load(t, r, fixture(t, "cmd_longline.wat"), wasm.PluginOptions{Name: "capped", MaxEmitBytes: 16 << 10})
	res = p.Call(context.Background(), testEvent("t", ""))
	if res.Status != wasm.Reject || !strings.Contains(res.Reason, "stdout line longer than 16384 bytes") || res.Emits != nil {
		t.Fatalf("a 20,072-byte line under a 16 KiB cap: status %v reason %q, %d emits", res.Status, res.Reason, len(res.Emits))
	}
}
