package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitLog waits until the daemon's log matches re, failing after a bound
// that only a broken daemon reaches.
func waitLog(t *testing.T, log *syncBuffer, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(log.String()); m != nil {
			return m
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("log never matched %q:\n%s", re, log.String())
	return nil
}

// The daemon boots on the real config.toml with the real plugins (built
// from their Go sources), takes an order over HTTP from `evhost publish`,
// and runs the whole chain: payment, then email and inventory, with audit
// seeing every event; SIGINT's context cancellation drains it.
func TestRunOrderPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the first-party plugins")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"run", "--config", "../../config.toml", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()},
			strings.NewReader(""), &log, &log)
	}()
	addr := waitLog(t, &log, `msg="serving the HTTP API" addr=(\S+)`)[1]

	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"publish", "--config", "../../config.toml", "--addr", addr, "order.placed", `{"id":42,"product_id":"sku-1"}`},
		strings.NewReader(""), &out, &errOut)
	if code != exitOK {
		t.Fatalf("publish exited %d: %s", code, errOut.String())
	}
	id := strings.TrimSpace(out.String())
	waitLog(t, &log, `msg="Charging payment for order 42" subscription=payment plugin=payment event_id=`+regexp.QuoteMeta(id)+` event_type=order.placed attempt=1`)
	waitLog(t, &log, `msg="Sending confirmation for order 42" subscription=email plugin=email event_id=\S+ event_type=payment.charged attempt=1`)
	waitLog(t, &log, `msg="Reducing stock for product sku-1" subscription=inventory plugin=inventory`)
	for _, typ := range []string{"order.placed", "payment.charged", "email.sent"} {
		waitLog(t, &log, `msg="audit: `+regexp.QuoteMeta(typ)+` `)
	}
	// email.sent was caused by payment.charged, caused by the order.
	m := waitLog(t, &log, `audit: payment.charged id=(\S+) source=evhost://plugins/payment causation=`+regexp.QuoteMeta(id))
	waitLog(t, &log, `audit: email.sent id=\S+ source=evhost://plugins/email causation=`+regexp.QuoteMeta(m[1]))

	// A malformed event is refused with exit code 4 and changes nothing.
	errOut.Reset()
	if code := run(context.Background(), []string{"publish", "--addr", addr, "order.placed", `{"id":`}, strings.NewReader(""), &out, &errOut); code != exitRejected {
		t.Fatalf("malformed publish exited %d: %s", code, errOut.String())
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, log.String())
	}
	if !strings.Contains(log.String(), `msg="evhost stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", log.String())
	}
}

func TestPublishUnreachable(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"publish", "--addr", "127.0.0.1:1", "--timeout", "2s", "t", "{}"}, strings.NewReader(""), &out, &errOut)
	if code != exitUnreachble || !strings.Contains(errOut.String(), "no daemon answered") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), nil, nil, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "Commands:") {
		t.Fatalf("no args: exit %d %s", code, errOut.String())
	}
	if code := run(context.Background(), []string{"bogus"}, nil, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), `unknown command "bogus"`) {
		t.Fatalf("bogus: exit %d", code)
	}
	out.Reset()
	if code := run(context.Background(), []string{"version"}, nil, &out, &errOut); code != exitOK || !strings.Contains(out.String(), "plugin ABI v1") {
		t.Fatalf("version: %d %s", code, out.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"call", "-h"}, nil, &out, &errOut); code != exitOK || !strings.Contains(errOut.String(), "Usage: evhost call") {
		t.Fatalf("call -h: %d %s", code, errOut.String())
	}
}

func TestValidateAndCall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the first-party plugins")
	}
	var out, errOut bytes.Buffer
	dataDir := t.TempDir()
	if code := run(context.Background(), []string{"call", "--config", "../../config.toml", "--data-dir", dataDir, "payment", "order.placed", `{"id":7,"product_id":"p"}`}, nil, &out, &errOut); code != exitOK {
		t.Fatalf("call exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), `"type":"payment.charged"`) || !strings.Contains(errOut.String(), "Charging payment for order 7") {
		t.Fatalf("call output:\n%s\n%s", out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"call", "--config", "../../config.toml", "--data-dir", dataDir, "payment", "order.placed", `{"product_id":"p"}`}, nil, &out, &errOut); code != exitRejected {
		t.Fatalf("call of a bad order exited %d: %s", code, errOut.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"validate", "--config", "../../config.toml", "--data-dir", dataDir}, nil, &out, &errOut); code != exitOK || !strings.Contains(out.String(), "valid (4 plugins loaded)") {
		t.Fatalf("validate exited %d: %s %s", code, out.String(), errOut.String())
	}
}
