package instrument

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
)

// TestVersionNamesTheRewrite instruments a small fixed module (a loop,
// calls, a memory and a table to cap, three data segments to merge) and
// compares the output's digest with the one recorded for Version. When the
// rewrite changes, caches of its output keyed by Version would hand out
// modules rewritten the old way: bump Version and record the new digest
// here.
func TestVersionNamesTheRewrite(t *testing.T) {
	const (
		version = "2"
		digest  = "51c61792fdfedece6f7007a47bc93bc5513c854f04fe2d8a5d3ec51c168f6571"
	)
	in, err := os.ReadFile("testdata/version.wasm")
	if err != nil {
		t.Fatal(err)
	}
	opt := opts(1000)
	opt.MaxMemoryPages, opt.MaxTableElements, opt.TableElementSize = 64, 32, 8
	out, _ := mustInstrument(t, in, opt)
	sum := sha256.Sum256(out)
	if got := hex.EncodeToString(sum[:]); Version != version || got != digest {
		t.Errorf("the rewrite of testdata/version.wasm has digest %s under Version %q; recorded: %s under %q.\n"+
			"If the rewrite changed on purpose, bump Version and record the new digest and Version in this test.", got, Version, digest, version)
	}
}
