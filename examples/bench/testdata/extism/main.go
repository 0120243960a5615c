// Command extism is the Extism side of the per-event call benchmark: the
// same two handlers as evhost's bytecount and jsondecode plugins, written
// against the Extism Go PDK. The host passes the event in the same
// envelope encoding that evhost writes into its guests (ABI.md), so both
// guests receive the same bytes and walk to the data before the logic runs.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o extism.wasm .
package main

import (
	"encoding/binary"
	"encoding/json"

	"github.com/extism/go-pdk"
)

func main() {}

var total int

// eventData returns the data of the envelope b: what follows the 0x00 that
// ends the attributes (each a name length byte, the name, a little-endian
// uint32 value length and the value).
func eventData(b []byte) []byte {
	for off := 0; off < len(b); {
		n := int(b[off])
		if n == 0 {
			return b[off+1:]
		}
		off += 1 + n
		if off+4 > len(b) {
			return nil
		}
		off += 4 + int(binary.LittleEndian.Uint32(b[off:]))
	}
	return nil
}

// count counts the non-zero bytes of the event's data, like evhost's
// bytecount plugin.
//
//go:wasmexport count
func count() int32 {
	for _, c := range eventData(pdk.Input()) {
		if c != 0 {
			total++
		}
	}
	return 0
}

type order struct {
	ID        int    `json:"id"`
	ProductID string `json:"product_id"`
	Qty       int    `json:"qty"`
}

// decode decodes the event's data as a JSON order, like evhost's
// jsondecode plugin.
//
//go:wasmexport decode
func decode() int32 {
	var o order
	if err := json.Unmarshal(eventData(pdk.Input()), &o); err != nil {
		pdk.SetError(err)
		return 1
	}
	total += o.Qty
	return 0
}
