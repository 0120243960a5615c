package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/evhost/evhost/internal/wasmbuild"
)

// daemon is the evhost binary running as a subprocess.
type daemon struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	addr string
}

func startDaemon(t *testing.T, config string) *daemon {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "evhost")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &daemon{log: &syncBuffer{}}
	d.cmd = exec.Command(bin, "run", "--config", cfg, "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"))
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.cmd.Process.Kill(); d.cmd.Wait() })
	d.addr = waitLog(t, d.log, `msg="serving the HTTP API" addr=(\S+)`)[1]
	return d
}

func (d *daemon) publish(t *testing.T, typ string) {
	t.Helper()
	var out, errOut syncBuffer
	if code := run(t.Context(), []string{"publish", "--addr", d.addr, typ, "{}"}, strings.NewReader(""), &out, &errOut); code != exitOK {
		t.Fatalf("publish: exit %d: %s", code, errOut.String())
	}
}

// wait returns the exit code, failing after a bound only a hung daemon
// reaches.
func (d *daemon) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(time.Minute):
		t.Fatalf("daemon did not exit:\n%s", d.log.String())
		return -1
	}
}

func hostileConfig(t *testing.T) string {
	wasm := wasmbuild.Go(t, "../../host/wasm/testdata/goplugins/hostile")
	p := filepath.Join(t.TempDir(), "hostile.wasm")
	if err := os.WriteFile(p, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`
[host]
shutdown_timeout = "20s"
[plugins.hostile]
path = %q
events = ["nap", "spin"]
timeout = "1m"
`, p)
}

// SIGTERM drains: the call in flight finishes before the daemon exits 0.
func TestSIGTERMDrainsInFlightWork(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon")
	}
	d := startDaemon(t, hostileConfig(t))
	d.publish(t, "nap")
	waitLog(t, d.log, `msg="nap start"`)
	d.cmd.Process.Signal(syscall.SIGTERM)
	if code := d.wait(t); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, d.log.String())
	}
	log := d.log.String()
	done, stopped := strings.Index(log, `msg="nap done"`), strings.Index(log, `msg="evhost stopped"`)
	if done < 0 || stopped < done {
		t.Fatalf("the in-flight call did not finish before the stop:\n%s", log)
	}
}

// A second signal exits at once, even with a call that would run for a
// minute.
func TestSecondSignalForcesExit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon")
	}
	d := startDaemon(t, hostileConfig(t))
	d.publish(t, "spin")
	d.cmd.Process.Signal(syscall.SIGINT)
	waitLog(t, d.log, `draining`)
	d.cmd.Process.Signal(syscall.SIGINT)
	if code := d.wait(t); code != 130 {
		t.Fatalf("exit code %d, want 130:\n%s", code, d.log.String())
	}
}
