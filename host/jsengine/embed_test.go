//go:build evhost_jsengine

package jsengine

import (
	"context"
	"testing"
)

// A build with the tag carries every variant, and each is the module its
// grants want: `make engine` then
// go test -tags evhost_jsengine -run TestEmbedded ./host/jsengine.
func TestEmbedded(t *testing.T) {
	if !Embedded() {
		t.Fatal("built with evhost_jsengine but Embedded() is false")
	}
	t.Setenv("PATH", "") // no C toolchain: the bytes must come from the binary
	t.Setenv("EVHOST_ENGINE_CACHE", t.TempDir())
	for _, v := range Variants {
		b, err := Module(context.Background(), v)
		if err != nil {
			t.Fatal(err)
		}
		checkVariant(t, v, b)
	}
}
