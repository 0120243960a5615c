//go:build evhost_jsengine

package jsengine

import (
	"embed"
	"fmt"
)

// The variants `make engine` built, gzip-compressed. A build with the tag
// and without them fails here, at compile time.
//
//go:embed wasm/*.wasm.gz
var built embed.FS

func init() {
	embedded = func(v Variant) ([]byte, error) {
		gz, err := built.ReadFile("wasm/" + v.File() + ".gz")
		if err != nil {
			return nil, fmt.Errorf("jsengine: the embedded engine: %w (run make engine before go build -tags evhost_jsengine)", err)
		}
		return gunzip(gz)
	}
}
