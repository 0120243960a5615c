// Command minimal is the smallest plugin: it acknowledges every event and
// calls no host function, so it imports only what the PDK itself needs.
package main

import "github.com/evhost/evhost/plugins/pdk"

func init() { pdk.Handle(func(*pdk.Event) error { return nil }) }

func main() {}
