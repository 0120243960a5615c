package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"regexp"
	"sync/atomic"
	"testing"

	"github.com/evhost/evhost/host/api"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
)

// `evhost trace ID` against a daemon: the tree of an order whose payment
// failed once, as text and as JSON; an unknown id is refused.
func TestTraceCommand(t *testing.T) {
	t.Setenv("EVHOST_TOKEN", "")
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte("[host]\ndata_dir = \"data\"\ntoken = \"s3cret\"\n[defaults]\nbackoff = \"1ms\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	obs := make(outcomes, 64)
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Bus: membus.New(membus.Options{}), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	var payments atomic.Int32
	h.Handle("payment", []string{"order.placed"}, func(_ context.Context, ev *event.Event, emit func(*event.Event)) error {
		if payments.Add(1) == 1 {
			return errors.New("card declined")
		}
		emit(&event.Event{Type: "payment.charged", ID: "charge-5678"})
		return nil
	})
	h.Handle("email", []string{"payment.charged"}, func(_ context.Context, ev *event.Event, emit func(*event.Event)) error {
		emit(&event.Event{Type: "email.sent", ID: "mail-9abc"})
		return nil
	})
	h.Handle("inventory", []string{"payment.charged"}, func(context.Context, *event.Event, func(*event.Event)) error {
		return nil
	})
	addr := serveHost(t, h)
	if _, err := h.Publish(context.Background(), &event.Event{Type: "order.placed", ID: "order-1234", Source: "http"}); err != nil {
		t.Fatal(err)
	}
	// payment: retry, done; email and inventory: done.
	obs.want(t, 1, dispatch.Retry)
	obs.want(t, 3, dispatch.Done)
	daemon := []string{"--addr", addr, "--token", "s3cret"}

	code, out, errOut := runCLI(append([]string{"trace"}, append(daemon, "order-1234")...)...)
	if code != exitOK {
		t.Fatalf("trace: exit %d: %s", code, errOut)
	}
	// email and inventory run concurrently: either may come first.
	want := regexp.MustCompile(`^order\.placed order-1234 \(http\)
└─ payment: done in [0-9.]+(µs|ms|s) \(attempt 2; attempt 1: retry "card declined"\)
   └─ payment\.charged charge-5678
      (├─ email: done in [0-9.]+(µs|ms|s)
      │  └─ email\.sent mail-9abc
      └─ inventory: done in [0-9.]+(µs|ms|s)
|├─ inventory: done in [0-9.]+(µs|ms|s)
      └─ email: done in [0-9.]+(µs|ms|s)
         └─ email\.sent mail-9abc
)$`)
	if !want.MatchString(out) {
		t.Errorf("trace:\n%s\nwant it to match\n%s", out, want)
	}

	code, out, errOut = runCLI(append([]string{"trace", "order-1234", "--json"}, daemon...)...)
	var tree api.TraceNode
	if code != exitOK || json.Unmarshal([]byte(out), &tree) != nil {
		t.Fatalf("trace --json: exit %d: %s%s", code, out, errOut)
	}
	if len(tree.Runs) != 1 || len(tree.Runs[0].Attempts) != 2 || len(tree.Children) != 1 || tree.Children[0].ID != "charge-5678" {
		t.Errorf("trace --json: %s", out)
	}

	code, _, errOut = runCLI(append([]string{"trace"}, append(daemon, "no-such-event")...)...)
	if code != exitRejected || !regexp.MustCompile(`404`).MatchString(errOut) {
		t.Errorf("unknown id: exit %d: %s; want %d and a 404", code, errOut, exitRejected)
	}
	code, _, errOut = runCLI(append([]string{"trace", "--token", "wrong", "--addr", addr}, "order-1234")...)
	if code != exitAuth {
		t.Errorf("wrong token: exit %d: %s; want %d", code, errOut, exitAuth)
	}
	if code, _, _ := runCLI("trace"); code != exitUsage {
		t.Errorf("no id: exit %d, want %d", code, exitUsage)
	}
}
