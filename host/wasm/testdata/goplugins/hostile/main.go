// Command hostile misbehaves on demand, as its event's type says: the
// runtime's hostile-guest tests run it.
package main

import (
	"time"

	"github.com/evhost/evhost/plugins/pdk"
)

var sink [][]byte

func init() { pdk.Handle(handle) }

func main() {}

func spin() {
	for {
	}
}

//go:noinline
func recurse(n int) int {
	if n > 1_000_000_000 {
		return n
	}
	return recurse(n+1) + 1
}

func handle(e *pdk.Event) error {
	switch e.Type {
	case "spin":
		spin()
	case "recurse":
		return pdk.Rejectf("%d", recurse(0))
	case "sleep":
		time.Sleep(10 * time.Second)
	case "nap":
		pdk.Info("nap start")
		time.Sleep(500 * time.Millisecond)
		pdk.Info("nap done")
	case "panic":
		panic("boom")
	case "membomb":
		for {
			sink = append(sink, make([]byte, 1<<20))
		}
	case "emit":
		return pdk.EmitJSON("hostile.ok", map[string]string{"id": e.ID})
	case "env":
		return pdk.Emit("hostile.env", []byte(getenv("GREETING")))
	case "time":
		return pdk.Emit("hostile.time", []byte(time.Now().UTC().Format(time.RFC3339)))
	}
	return nil
}
