package scaffold

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "copy the kits from plugins/ into _kits")

// The embedded kits are the kits under plugins/, byte for byte: `go
// generate ./internal/scaffold` copies them again after a kit changes.
func TestKitsMatchPlugins(t *testing.T) {
	for _, f := range kitSources() {
		want, err := os.ReadFile(filepath.Join("..", "..", "plugins", filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join("_kits", filepath.FromSlash(f))
		if *update {
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := kits.ReadFile("_kits/" + f)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("_kits/%s differs from plugins/%s (%v): run go generate ./internal/scaffold", f, f, err)
		}
	}
}
