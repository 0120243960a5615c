package host_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
)

// A Go program embeds evhost: native handlers beside (here, instead of)
// wasm plugins, a chain of two events, and Publish.
func Example() {
	dir, _ := os.MkdirTemp("", "evhost-example")
	defer os.RemoveAll(dir)
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(`
[host]
data_dir = "data"
[defaults]
concurrency = 1
`))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	h, err := host.New(ctx, cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer h.Close(ctx)

	done := make(chan string)
	h.Handle("payment", []string{"order.placed"}, func(ctx context.Context, ev *event.Event, emit func(*event.Event)) error {
		emit(&event.Event{Type: "payment.charged", Data: ev.Data})
		return nil
	})
	h.Handle("email", []string{"payment.*"}, func(ctx context.Context, ev *event.Event, emit func(*event.Event)) error {
		cause, _ := ev.Ext(event.ExtCausationID)
		done <- fmt.Sprintf("%s %s caused by %s", ev.Type, ev.Data, cause)
		return nil
	})
	if err := h.Start(ctx); err != nil {
		panic(err)
	}
	if _, err := h.Publish(ctx, &event.Event{ID: "order-42", Type: "order.placed", Data: []byte(`{"id":42}`)}); err != nil {
		panic(err)
	}
	fmt.Println(<-done)
	// Output: payment.charged {"id":42} caused by order-42
}
