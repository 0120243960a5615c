package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// A port in use makes evhost run fail at once, with a non-zero exit, and
// it never says it is ready.
func TestRunPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var log syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--config", "../../config.toml", "--listen", busy.Addr().String(),
			"--data-dir", t.TempDir(), "--watch=false"}, strings.NewReader(""), &log, &log)
	}()
	var code int
	select {
	case code = <-done:
	case <-ctx.Done():
		t.Fatalf("evhost run still running with its port in use:\n%s", log.String())
	}
	out := log.String()
	if code == exitOK {
		t.Errorf("exit code %d, want non-zero:\n%s", code, out)
	}
	if strings.Contains(out, "evhost ready") {
		t.Errorf("evhost said it was ready with its port in use:\n%s", out)
	}
	if !strings.Contains(out, "address already in use") {
		t.Errorf("the log does not say why:\n%s", out)
	}
}

// evhost run --listen off loopback without a token is refused, as the
// same listen in the config is.
func TestRunListenOffLoopbackNeedsToken(t *testing.T) {
	var log syncBuffer
	code := run(context.Background(), []string{"run", "--config", "../../config.toml", "--listen", "0.0.0.0:0",
		"--data-dir", t.TempDir()}, strings.NewReader(""), &log, &log)
	if code == exitOK || !strings.Contains(log.String(), "reachable from other machines") {
		t.Errorf("exit %d:\n%s", code, log.String())
	}
}
