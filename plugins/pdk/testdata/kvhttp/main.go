// Command kvhttp uses the KV store and outbound HTTP, so its module imports
// kv_get, kv_set, kv_delete and http_request (the positive control of the
// import test).
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
	switch v, err := pdk.KVGet("count"); {
	case errors.Is(err, pdk.ErrNotFound):
	case err != nil:
		return err
	default:
		n, _ = strconv.Atoi(string(v))
	}
	if err := pdk.KVSet("count", []byte(strconv.Itoa(n+1))); err != nil {
		return err
	}
	if e.Type == "reset" {
		return pdk.KVDelete("count")
	}
	url, _ := pdk.Config("url")
	resp, err := pdk.DoHTTP(&pdk.HTTPRequest{Method: "POST", URL: url, Body: e.Data,
		Header: pdk.Header{"content-type": {"application/json"}}})
	if err != nil {
		return err
	}
	return pdk.Emit("http.done", resp.Body, pdk.WithExtension("status", strconv.Itoa(resp.Status)))
}
