package instrument

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// TestMergeData instruments modules with several data segments and checks
// which are merged, and that an instance of the output starts with the same
// memory as an instance of the input.
func TestMergeData(t *testing.T) {
	gap := func(n int) string { return fmt.Sprint(16 + 6 + n) } // "evhost" at 16, then a gap of n bytes
	cases := []struct {
		name   string
		data   string
		merged int
	}{
		{"out of order, small gaps", `(data (i32.const 16) "evhost") (data (i32.const 40) "\01\02") (data (i32.const 8) "ab")`, 2},
		{"adjacent", `(data (i32.const 16) "evhost") (data (i32.const 22) "!")`, 1},
		{"widest gap", `(data (i32.const 16) "evhost") (data (i32.const ` + gap(maxDataGap) + `) "x")`, 1},
		{"gap too wide", `(data (i32.const 16) "evhost") (data (i32.const ` + gap(maxDataGap+1) + `) "x")`, 0},
		{"overlapping", `(data (i32.const 16) "evhost") (data (i32.const 18) "XY")`, 0},
		{"overlapping, order matters", `(data (i32.const 18) "XY") (data (i32.const 16) "evhost") (data (i32.const 22) "!")`, 0},
		{"passive", `(data (i32.const 16) "evhost") (data (i32.const 30) "x") (data "p")`, 0},
		{"empty segment", `(data (i32.const 16) "evhost") (data (i32.const 24) "")`, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := watTyped(t, `(module (memory (export "memory") 1) `+c.data+`)`)
			out, info := mustInstrument(t, in, opts(1000))
			if info.MergedDataSegments != c.merged {
				t.Errorf("merged %d segments, want %d", info.MergedDataSegments, c.merged)
			}
			r := newRuntime(t)
			addTicker(t, r, &ticker{fuel: 1000})
			want, _ := instantiate(t, r, in, "in").ExportedMemory("memory").Read(0, 65536)
			got, _ := instantiate(t, r, out, "out").ExportedMemory("memory").Read(0, 65536)
			if !bytes.Equal(got, want) {
				t.Errorf("memory differs after instantiation")
			}
		})
	}
}

// TestMergeDataOutOfBounds checks that merging keeps an instantiation
// failing when a segment lies outside the memory, and that the segments of
// an imported memory, or at an offset not constant, are left alone.
func TestMergeDataOutOfBounds(t *testing.T) {
	in := watTyped(t, `(module (memory 1) (data (i32.const 16) "evhost") (data (i32.const 65535) "xy"))`)
	out, info := mustInstrument(t, in, opts(1000))
	if info.MergedDataSegments != 0 {
		t.Errorf("merged %d segments of a module whose last segment ends past the memory and is more than a gap away", info.MergedDataSegments)
	}
	in = watTyped(t, `(module (memory 1) (data (i32.const 65500) "evhost") (data (i32.const 65534) "xyz"))`)
	out, info = mustInstrument(t, in, opts(1000))
	if info.MergedDataSegments != 1 {
		t.Errorf("merged %d segments, want 1", info.MergedDataSegments)
	}
	r := newRuntime(t)
	addTicker(t, r, &ticker{fuel: 1000})
	if _, err := r.Instantiate(context.Background(), out); err == nil {
		t.Error("a merged segment that ends past the memory instantiated")
	}
	in = watTyped(t, `(module (import "env" "g" (global i32)) (memory 1) (data (i32.const 16) "evhost") (data (global.get 0) "x"))`)
	if _, info = mustInstrument(t, in, opts(1000)); info.MergedDataSegments != 0 {
		t.Errorf("merged %d segments, one at an offset from a global", info.MergedDataSegments)
	}
	in = watTyped(t, `(module (import "env" "memory" (memory 1)) (data (i32.const 16) "evhost") (data (i32.const 30) "x"))`)
	if _, info = mustInstrument(t, in, opts(1000)); info.MergedDataSegments != 0 {
		t.Errorf("merged %d segments of an imported memory", info.MergedDataSegments)
	}
}
