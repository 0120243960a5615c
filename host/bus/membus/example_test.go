package membus_test

import (
	"context"
	"fmt"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/event"
)

// A subscription receives the events of the types it selects; a consumer
// pulls deliveries and settles each one.
func Example() {
	ctx := context.Background()
	b := membus.New(membus.Options{})
	defer b.Close(ctx)

	sub, err := b.Subscribe(ctx, bus.Subscription{Name: "payment", Patterns: []string{"order.*"}, MaxAttempts: 2})
	if err != nil {
		panic(err)
	}
	e := &event.Event{ID: "1", Source: "/shop", Type: "order.placed", SpecVersion: "1.0", Data: []byte(`{"id":42}`)}
	ack, _ := b.Publish(ctx, e)
	fmt.Println("accepted as", ack.Seq)
	if ack, _ := b.Publish(ctx, e); ack.Duplicate {
		fmt.Println("published again: a duplicate, not delivered again")
	}

	d, _ := sub.Next(ctx)
	fmt.Println("attempt", d.Attempt(), "of", d.Event().Type)
	d.Nak(0, "card declined") // redeliver at once

	d, _ = sub.Next(ctx)
	fmt.Println("attempt", d.Attempt(), "of", d.Event().Type)
	d.Nak(0, "card declined again") // the last attempt: dead-lettered

	dls, _ := b.DeadLetters(ctx, bus.DeadLetterFilter{Subscription: "payment"})
	fmt.Printf("dead letter: %s after %d attempts: %s\n", dls[0].Event.ID, dls[0].Attempts, dls[0].Reason)
	// Output:
	// accepted as 1
	// published again: a duplicate, not delivered again
	// attempt 1 of order.placed
	// attempt 2 of order.placed
	// dead letter: 1 after 2 attempts: card declined again
}
