// Command handled acknowledges every event it handles with one emit: an
// event of the type in its config key "emit" whose data is its config key
// "node" (the daemon it runs in). With a config key "delay" (a Go
// duration) it first sleeps that long, a handler that waits on something.
//
// The crash and cluster tests of cmd/evhost count these emits in the
// stream: the emit's id derives from the parent's, so an event handled
// twice must still leave one emit behind, and its data says which daemon
// handled it first.
package main

import (
	"time"

	"github.com/evhost/evhost/plugins/pdk"
)

var (
	emitType, node string
	delay          time.Duration
)

func init() {
	emitType, _ = pdk.Config("emit")
	node, _ = pdk.Config("node")
	if d, ok := pdk.Config("delay"); ok {
		delay, _ = time.ParseDuration(d)
	}
	pdk.Handle(handle)
}

func main() {}

func handle(*pdk.Event) error {
	if delay > 0 {
		time.Sleep(delay)
	}
	return pdk.Emit(emitType, []byte(node), pdk.WithDataContentType("text/plain"))
}
