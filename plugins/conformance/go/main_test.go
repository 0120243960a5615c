//go:build !wasip1

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/evhost/evhost/plugins/pdk"
	"github.com/evhost/evhost/plugins/pdk/pdktest"
)

// The conformance scenarios run natively with pdktest (all but "trap",
// whose recovery pdktest's own tests cover); internal/conformance runs the
// same handler through evhost's runtime.

func TestEcho(t *testing.T) {
	e := pdk.Event{ID: "e-1", Source: "/src", Type: "echo", Subject: "s/1", DataContentType: "text/plain",
		Extensions: map[string]string{"tenant": "acme"}, Data: []byte("hi")}
	res := (&pdktest.Host{}).Run(e)
	if res.Status != pdk.StatusDone || len(res.Emits) != 1 {
		t.Fatalf("%+v", res)
	}
	out := res.Emits[0]
	want := map[string]string{"origid": "e-1", "origsource": "/src", "origtype": "echo", "origspec": "1.0",
		"origsubject": "s/1", "origtenant": "acme", "causationid": "e-1"}
	for name, v := range want {
		if got := out.Extensions[name]; got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	if out.Type != "echo.reply" || out.DataContentType != "text/plain" || string(out.Data) != "hi" {
		t.Errorf("%+v", out)
	}
}

func TestEmitOptions(t *testing.T) {
	res := (&pdktest.Host{}).Run(pdk.Event{Type: "emit.options"})
	out := res.Emits[0]
	if out.ID != "fixed-id-1" || out.Subject != "sub/1" || out.DataContentType != "application/json" ||
		out.DataSchema != "https://example.com/schema.json" || out.Extensions["color"] != "blue" {
		t.Errorf("%+v", out)
	}
}

func TestOutcomes(t *testing.T) {
	h := &pdktest.Host{}
	if res := h.Run(pdk.Event{Type: "reject"}); res.Status != pdk.StatusReject || !strings.Contains(res.Reason, "bad input") {
		t.Errorf("%+v", res)
	}
	if res := h.Run(pdk.Event{Type: "retry"}); res.Status != pdk.StatusRetry || !strings.Contains(res.Reason, "try later") || len(res.Emits) != 0 {
		t.Errorf("%+v", res)
	}
}

func TestConfigKV(t *testing.T) {
	h := &pdktest.Host{Config: map[string]string{"greeting": "hello"}}
	if res := h.Run(pdk.Event{Type: "config"}); string(res.Emits[0].Data) != "hello" || res.Emits[0].Extensions["absent"] != "notfound" {
		t.Errorf("%+v", res)
	}
	for _, want := range []string{"1", "2"} {
		res := h.Run(pdk.Event{Type: "kv"})
		if string(res.Emits[0].Data) != want || res.Emits[0].Extensions["badkey"] != "-2" {
			t.Errorf("%+v", res)
		}
	}
	if res := h.Run(pdk.Event{Type: "kv.delete"}); string(res.Emits[0].Data) != "notfound" || len(h.KV) != 0 {
		t.Errorf("%+v, store %v", res, h.KV)
	}
}

func TestHTTP(t *testing.T) {
	h := &pdktest.Host{HTTP: func(req *pdk.HTTPRequest) (*pdk.HTTPResponse, error) {
		if req.URL != "https://api.example.com/x" {
			return nil, pdk.ErrNotPermitted
		}
		if req.Method != "POST" || req.Header.Get("X-Conformance") != "yes" || string(req.Body) != "ping" {
			t.Errorf("request %+v", req)
		}
		return &pdk.HTTPResponse{Status: 201, Header: pdk.Header{"x-echo": {"pong-header"}}, Body: []byte("pong")}, nil
	}}
	out := h.Run(pdk.Event{Type: "http", Data: []byte("https://api.example.com/x")}).Emits[0]
	if out.Type != "http.done" || out.Extensions["status"] != "201" || out.Extensions["echoheader"] != "pong-header" || string(out.Data) != "pong" {
		t.Errorf("%+v", out)
	}
	out = h.Run(pdk.Event{Type: "http", Data: []byte("https://elsewhere.example.org/")}).Emits[0]
	if out.Type != "http.error" || out.Extensions["code"] != "-3" {
		t.Errorf("%+v", out)
	}
}

func TestLogsAndLimits(t *testing.T) {
	h := &pdktest.Host{MaxEmits: 3}
	res := h.Run(pdk.Event{Type: "log"})
	want := []pdktest.Log{{Level: pdk.LevelDebug, Text: "debug line"}, {Level: pdk.LevelInfo, Text: "info line"},
		{Level: pdk.LevelWarn, Text: "warn line"}, {Level: pdk.LevelError, Text: "error line"}}
	if len(res.Logs) != 4 {
		t.Fatalf("%+v", res.Logs)
	}
	for i, l := range want {
		if res.Logs[i] != l {
			t.Errorf("log %d = %v, want %v", i, res.Logs[i], l)
		}
	}
	res = h.Run(pdk.Event{Type: "emit.many"})
	if res.Status != pdk.StatusReject || !strings.Contains(res.Reason, "more than 3") ||
		len(res.Logs) != 1 || res.Logs[0].Text != "emit refused: -4" {
		t.Errorf("%+v", res)
	}
	res = h.Run(pdk.Event{Type: "emit.large", Data: []byte("1048576")})
	if res.Status != pdk.StatusDone || !bytes.Equal(res.Emits[0].Data, bytes.Repeat([]byte("x"), 1<<20)) {
		t.Errorf("status %v, %d bytes", res.Status, len(res.Emits[0].Data))
	}
}
