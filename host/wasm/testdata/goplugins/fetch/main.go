// Command fetch makes the outbound HTTP request its event asks for (data:
// {"method":"...","url":"...","body":"..."}) and emits fetch.done with the
// status and body, or fails with the PDK's error (its ABI code).
package main

import (
	"errors"

	"github.com/evhost/evhost/plugins/pdk"
)

func init() { pdk.Handle(handle) }

func main() {}

func handle(e *pdk.Event) error {
	var req struct {
		Method, URL, Body string
	}
	if err := e.Decode(&req); err != nil {
		return pdk.Reject(err)
	}
	r := &pdk.HTTPRequest{Method: req.Method, URL: req.URL, Body: []byte(req.Body), Header: pdk.Header{}}
	r.Header.Set("X-Test", "fetch")
	resp, err := pdk.DoHTTP(r)
	if err != nil {
		var he *pdk.HostError
		if errors.As(err, &he) {
			return pdk.Rejectf("code %d", he.Code)
		}
		return pdk.Reject(err)
	}
	return pdk.EmitJSON("fetch.done", map[string]any{"status": resp.Status, "body": string(resp.Body), "echo": resp.Header.Get("X-Echo")})
}
