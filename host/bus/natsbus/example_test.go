package natsbus_test

import (
	"context"
	"fmt"
	"os"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/event"
)

// The embedded broker: a NATS server inside the process, its files in a
// directory. What it holds is still there after a restart.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "natsbus-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	opts := natsbus.Options{Embedded: &natsbus.Embedded{StoreDir: dir}}

	b, err := natsbus.Open(ctx, opts)
	if err != nil {
		panic(err)
	}
	sub, err := b.Subscribe(ctx, bus.Subscription{Name: "payment", Patterns: []string{"order.*"}, MaxAttempts: 2})
	if err != nil {
		panic(err)
	}
	e := &event.Event{ID: "1", Source: "/shop", Type: "order.placed", SpecVersion: "1.0", Data: []byte(`{"id":42}`)}
	ack, _ := b.Publish(ctx, e)
	fmt.Println("accepted as", ack.Seq)

	d, _ := sub.Next(ctx)
	fmt.Println("attempt", d.Attempt(), "of", d.Event().Type)
	d.Nak(0, "card declined") // redeliver at once
	d, _ = sub.Next(ctx)
	d.Nak(0, "card declined again") // the last attempt: dead-lettered
	b.Close(ctx)

	// The process restarts.
	b, err = natsbus.Open(ctx, opts)
	if err != nil {
		panic(err)
	}
	defer b.Close(ctx)
	if ack, _ := b.Publish(ctx, e); ack.Duplicate {
		fmt.Println("published again after the restart: a duplicate of", ack.Seq)
	}
	dls, _ := b.DeadLetters(ctx, bus.DeadLetterFilter{Subscription: "payment"})
	fmt.Printf("dead letter: %s after %d attempts: %s\n", dls[0].Event.ID, dls[0].Attempts, dls[0].Reason)
	// Output:
	// accepted as 1
	// attempt 1 of order.placed
	// published again after the restart: a duplicate of 1
	// dead letter: 1 after 2 attempts: card declined again
}
