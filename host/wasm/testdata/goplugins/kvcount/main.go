// Command kvcount counts the events it sees in its key-value space and
// emits the count.
package main

import (
	"errors"
	"strconv"

	"github.com/evhost/evhost/plugins/pdk"
)

func init() { pdk.Handle(handle) }

func main() {}

func handle(e *pdk.Event) error {
	n := 0
	v, err := pdk.KVGet("count")
	switch {
	case err == nil:
		n, _ = strconv.Atoi(string(v))
	case !errors.Is(err, pdk.ErrNotFound):
		return pdk.Retry(err)
	}
	n++
	if err := pdk.KVSet("count", []byte(strconv.Itoa(n))); err != nil {
		return pdk.Retry(err)
	}
	if e.Type == "reset" {
		if err := pdk.KVDelete("count"); err != nil {
			return err
		}
	}
	return pdk.Emit("kv.count", []byte(strconv.Itoa(n)))
}
