package askit_test

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
)

// TestNPM runs the kit's tests as the README says: npm test builds the
// example and conformance handlers with asc and runs their tests with
// node's test runner and the kit's test host (testing/host.js). When
// node_modules is missing it first installs the compiler with npm ci, from
// package-lock.json. internal/conformance, in the root module, runs the
// conformance handler through evhost's runtime.
func TestNPM(t *testing.T) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not found; install Node 20 or later with npm (Debian: apt-get install nodejs npm)")
	}
	if _, err := os.Stat("node_modules/.bin/asc"); err != nil {
		if out, err := exec.Command(npm, "ci", "--no-audit", "--no-fund").CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	out, err := exec.Command(npm, "test").CombinedOutput()
	if err != nil {
		t.Fatalf("npm test: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^# pass [1-9][0-9]*$`).Match(out) || !regexp.MustCompile(`(?m)^# fail 0$`).Match(out) {
		t.Fatalf("unexpected output:\n%s", out)
	}
}
