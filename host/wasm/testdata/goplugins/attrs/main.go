// Command attrs emits, for every event it handles, an event of type
// attrs.seen whose data is a JSON object of every attribute the plugin
// received (and the data as a string): tests compare it with what a
// producer sent.
package main

import "github.com/evhost/evhost/plugins/pdk"

func init() { pdk.Handle(handle) }

func main() {}

func handle(e *pdk.Event) error {
	seen := map[string]string{
		"id": e.ID, "source": e.Source, "type": e.Type, "specversion": e.SpecVersion,
		"subject": e.Subject, "datacontenttype": e.DataContentType, "dataschema": e.DataSchema,
		"data": string(e.Data),
	}
	if t, ok := e.Attr(pdk.AttrTime); ok {
		seen["time"] = t
	}
	for k, v := range e.Extensions {
		seen[k] = v
	}
	return pdk.EmitJSON("attrs.seen", seen)
}
