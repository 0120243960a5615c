package rustkit_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestCargo runs the kit's unit and doc tests and the native unit tests of
// the example and conformance handlers (cargo test on the host, no
// WebAssembly), as the README says. It prefers Debian's toolchain
// (/usr/bin/cargo, rustc 1.63: the oldest Rust the kit supports) over the
// one on PATH. internal/conformance, in the root module, builds the
// conformance handler for wasm and runs it through evhost's runtime.
func TestCargo(t *testing.T) {
	cargo, rustc := "/usr/bin/cargo", "/usr/bin/rustc"
	if _, err := os.Stat(cargo); err != nil {
		var err1, err2 error
		cargo, err1 = exec.LookPath("cargo")
		rustc, err2 = exec.LookPath("rustc")
		if err1 != nil || err2 != nil {
			t.Skip("cargo not found; install it with: apt-get install rustc cargo libstd-rust-dev-wasm32")
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	cmd := exec.Command(cargo, "test", "--offline", "--locked", "--workspace")
	cmd.Env = append(os.Environ(), "RUSTC="+rustc, "RUSTDOC="+filepath.Join(filepath.Dir(rustc), "rustdoc"),
		"CARGO_TARGET_DIR="+filepath.Join(cache, "evhost-test", "cargo-native"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	// Four test binaries: the kit's unit tests, its doc tests, the example's
	// and the conformance handler's.
	ok := regexp.MustCompile(`(?m)^test result: ok\. [1-9][0-9]* passed; 0 failed`).FindAll(out, -1)
	if len(ok) != 4 {
		t.Fatalf("%d test binaries passed, want 4:\n%s", len(ok), out)
	}
}
