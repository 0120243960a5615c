// Package gobuild builds a Go plugin from its source directory with the Go
// toolchain, as a reactor module (GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared). The daemon uses it for plugins whose path is a
// package directory, so that a checkout runs without a separate build
// step; production deployments point at .wasm files and need no toolchain.
package gobuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// ErrNoToolchain means no go command was found.
var ErrNoToolchain = errors.New("gobuild: the go command was not found (install Go, or point the plugin's path at a .wasm file)")

// Tool returns the path of the go command: $PATH first, then the GOROOT
// this binary was built with.
func Tool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", ErrNoToolchain
}

// Build compiles the Go package in dir and returns the module's bytes.
// Scratch output goes to a temporary file in tmpDir (os.TempDir() when
// empty). A compile error is returned with the compiler's output.
func Build(ctx context.Context, dir, tmpDir string) ([]byte, error) {
	tool, err := Tool()
	if err != nil {
		return nil, err
	}
	if tmpDir != "" {
		if err := os.MkdirAll(tmpDir, 0o755); err != nil {
			return nil, fmt.Errorf("gobuild: %w", err)
		}
	}
	f, err := os.CreateTemp(tmpDir, "plugin-*.wasm")
	if err != nil {
		return nil, fmt.Errorf("gobuild: %w", err)
	}
	out := f.Name()
	f.Close()
	defer os.Remove(out)
	cmd := exec.CommandContext(ctx, tool, "build", "-trimpath", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("gobuild: building %s: %w\n%s", dir, err, strings.TrimSpace(msg.String()))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("gobuild: %w", err)
	}
	return b, nil
}
