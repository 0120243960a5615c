// Command audit records every event it sees: one log line per event with
// its type, id, and where it came from.
package main

import "github.com/evhost/evhost/plugins/pdk"

func init() { pdk.Handle(handle) }

func main() {}

func handle(e *pdk.Event) error {
	cause, _ := e.Attr(pdk.ExtCausationID)
	if cause == "" {
		cause = "-"
	}
	pdk.Infof("audit: %s id=%s source=%s causation=%s bytes=%d", e.Type, e.ID, e.Source, cause, len(e.Data))
	return nil
}
