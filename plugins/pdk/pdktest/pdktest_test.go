//go:build !wasip1

package pdktest_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/plugins/pdk"
	"github.com/evhost/evhost/plugins/pdk/pdktest"
)

type order struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}

// handleOrder is a typical handler: decode, validate, read config, log,
// emit.
func handleOrder(e *pdk.Event) error {
	var o order
	if err := e.Decode(&o); err != nil {
		return pdk.Reject(err)
	}
	if o.Amount <= 0 {
		return pdk.Rejectf("order %s: amount %d is not positive", o.ID, o.Amount)
	}
	currency, ok := pdk.Config("currency")
	if !ok {
		return errors.New("currency not configured")
	}
	pdk.Infof("order %s: %d %s", o.ID, o.Amount, currency)
	return pdk.EmitJSON("order.accepted", map[string]any{"id": o.ID, "currency": currency},
		pdk.WithSubject("order/"+o.ID), pdk.WithExtension("tenant", "acme"))
}

var fixed = time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)

func TestSampleHandler(t *testing.T) {
	h := pdktest.Host{Config: map[string]string{"currency": "EUR"}, Source: "/plugins/orders", Now: func() time.Time { return fixed }}
	res := h.RunHandler(handleOrder, pdk.Event{
		ID: "e1", Type: "order.created", Data: []byte(`{"id":"42","amount":7}`),
		Extensions: map[string]string{"correlationid": "root", "depth": "3", "traceparent": "00-t-p-01"},
	})
	if res.Status != pdk.StatusDone || res.Reason != "" {
		t.Fatalf("status %v, reason %q", res.Status, res.Reason)
	}
	if want := []pdktest.Log{{Level: pdk.LevelInfo, Text: "order 42: 7 EUR"}}; !reflect.DeepEqual(res.Logs, want) {
		t.Errorf("logs %v, want %v", res.Logs, want)
	}
	if len(res.Emits) != 1 {
		t.Fatalf("%d emits", len(res.Emits))
	}
	got := res.Emits[0]
	want := pdk.Event{
		ID: "pdktest-2", Source: "/plugins/orders", Type: "order.accepted", SpecVersion: "1.0",
		Subject: "order/42", DataContentType: "application/json",
		Extensions: map[string]string{"tenant": "acme", "causationid": "e1", "correlationid": "root", "depth": "4", "traceparent": "00-t-p-01"},
		Data:       []byte(`{"currency":"EUR","id":"42"}`),
	}
	want.SetTime(fixed)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("emit:\n got %+v\nwant %+v", got, want)
	}

	for _, tt := range []struct {
		data, reason string
		status       pdk.Status
	}{
		{`{"id":"43","amount":0}`, "order 43: amount 0 is not positive", pdk.StatusReject},
		{`not json`, "pdk: decode order.created event: invalid character", pdk.StatusReject},
	} {
		res := h.RunHandler(handleOrder, pdk.Event{Type: "order.created", Data: []byte(tt.data)})
		if res.Status != tt.status || !strings.HasPrefix(res.Reason, tt.reason) || len(res.Emits) != 0 {
			t.Errorf("%s: status %v, reason %q, %d emits", tt.data, res.Status, res.Reason, len(res.Emits))
		}
	}

	var unconfigured pdktest.Host
	res = unconfigured.RunHandler(handleOrder, pdk.Event{Type: "order.created", Data: []byte(`{"id":"1","amount":1}`)})
	if res.Status != pdk.StatusRetry || res.Reason != "currency not configured" {
		t.Errorf("unconfigured: %v %q", res.Status, res.Reason)
	}
}

func TestEmitsOnlyOnSuccess(t *testing.T) {
	var h pdktest.Host
	res := h.RunHandler(func(e *pdk.Event) error {
		if err := pdk.Emit("x", nil); err != nil {
			return err
		}
		return errors.New("later")
	}, pdk.Event{Type: "t"})
	if res.Status != pdk.StatusRetry || len(res.Emits) != 0 {
		t.Fatalf("status %v, %d emits", res.Status, len(res.Emits))
	}
}

func TestEmitChecks(t *testing.T) {
	var h pdktest.Host
	tests := []struct {
		name string
		emit func() error
		want error
	}{
		{"missing type", func() error { return pdk.Emit("", nil) }, pdk.ErrMalformed},
		{"name twice", func() error {
			return pdk.Emit("t", nil, pdk.WithExtension("a", "1"), pdk.WithExtension("a", "2"))
		}, pdk.ErrMalformed},
		{"value not UTF-8", func() error { return pdk.Emit("t", nil, pdk.WithSubject("\xff")) }, pdk.ErrMalformed},
		{"bad extension name", func() error { return pdk.Emit("t", nil, pdk.WithExtension("Big_Name", "1")) }, pdk.ErrMalformed},
		{"context attribute as extension", func() error { return pdk.Emit("t", nil, pdk.WithExtension("subject", "1")) }, pdk.ErrMalformed},
		{"JSON error", func() error { return pdk.EmitJSON("t", func() {}) }, nil},
		{"fine", func() error { return pdk.Emit("t", []byte("x"), pdk.WithID("fixed"), pdk.WithDataSchema("s")) }, nil},
	}
	for _, tt := range tests {
		var err error
		h.RunHandler(func(*pdk.Event) error { err = tt.emit(); return nil }, pdk.Event{Type: "in"})
		switch {
		case tt.name == "JSON error":
			if err == nil || !strings.Contains(err.Error(), "json") {
				t.Errorf("%s: err = %v", tt.name, err)
			}
		case !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil):
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := pdk.Emit("t", nil); !errors.Is(err, pdk.ErrNotPermitted) {
		t.Errorf("emit outside a call: %v, want ErrNotPermitted", err)
	}
}

func TestHostOwnedAttributesReplaced(t *testing.T) {
	h := pdktest.Host{Now: func() time.Time { return fixed }}
	res := h.RunHandler(func(*pdk.Event) error {
		return pdk.Emit("t", nil, pdk.WithExtension("causationid", "forged"), pdk.WithExtension("depth", "99"))
	}, pdk.Event{ID: "parent", Type: "in"})
	e := res.Emits[0]
	if e.Extensions["causationid"] != "parent" || e.Extensions["depth"] != "1" || e.Extensions["correlationid"] != "parent" || e.Source != pdktest.DefaultSource {
		t.Errorf("host-owned attributes: %+v", e)
	}
}

func TestMaxEmits(t *testing.T) {
	h := pdktest.Host{MaxEmits: 2}
	var errs []error
	res := h.RunHandler(func(*pdk.Event) error {
		for range 3 {
			errs = append(errs, pdk.Emit("t", nil))
		}
		return nil // the host dead-letters anyway
	}, pdk.Event{Type: "in"})
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], pdk.ErrLimit) {
		t.Errorf("emit errors %v", errs)
	}
	if res.Status != pdk.StatusReject || !strings.Contains(res.Reason, "more than 2 emits") || len(res.Emits) != 0 {
		t.Errorf("status %v, reason %q, %d emits", res.Status, res.Reason, len(res.Emits))
	}
}

func TestKV(t *testing.T) {
	h := pdktest.Host{KV: map[string][]byte{"seed": []byte("1")}}
	run := func(fn func() error) error {
		var err error
		h.RunHandler(func(*pdk.Event) error { err = fn(); return nil }, pdk.Event{Type: "t"})
		return err
	}
	if err := run(func() error {
		v, err := pdk.KVGet("seed")
		if err != nil || string(v) != "1" {
			t.Errorf("KVGet(seed) = %q, %v", v, err)
		}
		if err := pdk.KVSet("a/b=c.d-e_f", []byte("x")); err != nil {
			return err
		}
		if err := pdk.KVSet("empty", nil); err != nil {
			return err
		}
		if v, err := pdk.KVGet("empty"); err != nil || v == nil || len(v) != 0 {
			t.Errorf("KVGet(empty) = %#v, %v", v, err)
		}
		return pdk.KVDelete("seed")
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.KV["seed"]; ok || string(h.KV["a/b=c.d-e_f"]) != "x" {
		t.Errorf("KV after run: %q", h.KV)
	}
	if err := run(func() error { _, err := pdk.KVGet("seed"); return err }); !errors.Is(err, pdk.ErrNotFound) {
		t.Errorf("KVGet of a deleted key: %v", err)
	}
	for _, key := range []string{"", "sp ace", strings.Repeat("k", 257), "ü"} {
		if err := run(func() error { return pdk.KVSet(key, nil) }); !errors.Is(err, pdk.ErrMalformed) {
			t.Errorf("KVSet(%q): %v, want ErrMalformed", key, err)
		}
	}
	if err := run(func() error { return pdk.KVSet(strings.Repeat("k", 256), nil) }); err != nil {
		t.Errorf("KVSet of a 256-byte key: %v", err)
	}
}

func TestHTTP(t *testing.T) {
	var h pdktest.Host
	call := func() (*pdk.HTTPResponse, error) {
		var resp *pdk.HTTPResponse
		var err error
		h.RunHandler(func(*pdk.Event) error {
			req := &pdk.HTTPRequest{Method: "POST", URL: "https://api.example.com/v1", Header: pdk.Header{}, Body: []byte("ping")}
			req.Header.Set("Authorization", "Bearer x")
			resp, err = pdk.DoHTTP(req)
			return nil
		}, pdk.Event{Type: "t"})
		return resp, err
	}
	if _, err := call(); !errors.Is(err, pdk.ErrNotPermitted) {
		t.Errorf("no allow-list: %v", err)
	}
	h.HTTP = func(req *pdk.HTTPRequest) (*pdk.HTTPResponse, error) {
		if req.Method != "POST" || req.URL != "https://api.example.com/v1" || req.Header.Get("authorization") != "Bearer x" || string(req.Body) != "ping" {
			t.Errorf("request %+v", req)
		}
		return &pdk.HTTPResponse{Status: 503, Header: pdk.Header{"retry-after": {"5"}}, Body: []byte("busy")}, nil
	}
	resp, err := call()
	if err != nil || resp.Status != 503 || resp.Header.Get("Retry-After") != "5" || string(resp.Body) != "busy" {
		t.Errorf("response %+v, %v", resp, err)
	}
	h.HTTP = func(*pdk.HTTPRequest) (*pdk.HTTPResponse, error) { return nil, errors.New("dial tcp: refused") }
	if _, err := call(); !errors.Is(err, pdk.ErrTransient) {
		t.Errorf("failing transport: %v, want ErrTransient", err)
	}
	h.HTTP = func(*pdk.HTTPRequest) (*pdk.HTTPResponse, error) { return nil, pdk.ErrLimit }
	if _, err := call(); !errors.Is(err, pdk.ErrLimit) {
		t.Errorf("over the cap: %v, want ErrLimit", err)
	}
}

func TestPanicAndRegisteredHandler(t *testing.T) {
	var h pdktest.Host
	res := h.RunHandler(func(*pdk.Event) error { panic("kaboom") }, pdk.Event{Type: "t"})
	if res.Status != pdk.StatusRetry || res.Reason != "pdk: handler panicked: kaboom" {
		t.Errorf("panic: %v %q", res.Status, res.Reason)
	}
	if len(res.Logs) != 1 || res.Logs[0].Level != pdk.LevelError || !strings.Contains(res.Logs[0].Text, "goroutine") {
		t.Errorf("panic log: %v", res.Logs)
	}

	res = h.Run(pdk.Event{Type: "t"})
	if res.Status != pdk.StatusRetry || !strings.Contains(res.Reason, "no handler registered") {
		t.Errorf("no handler: %v %q", res.Status, res.Reason)
	}
	pdk.Handle(func(e *pdk.Event) error { pdk.Debug("registered " + e.Type); return nil })
	defer pdk.Handle(nil)
	res = h.Run(pdk.Event{Type: "t"})
	if res.Status != pdk.StatusDone || len(res.Logs) != 1 || res.Logs[0].String() != "debug: registered t" {
		t.Errorf("registered: %v %v", res.Status, res.Logs)
	}
}

func TestLogLevels(t *testing.T) {
	var h pdktest.Host
	res := h.RunHandler(func(*pdk.Event) error {
		pdk.Debug("d")
		pdk.Info("i")
		pdk.Warn("w")
		pdk.Error("e")
		pdk.Debugf("d%d", 1)
		pdk.Infof("i%d", 1)
		pdk.Warnf("w%d", 1)
		pdk.Errorf("e%d", 1)
		pdk.Log(pdk.LevelWarn, "l")
		return nil
	}, pdk.Event{Type: "t"})
	var got []string
	for _, l := range res.Logs {
		got = append(got, l.String())
	}
	want := "debug: d|info: i|warn: w|error: e|debug: d1|info: i1|warn: w1|error: e1|warn: l"
	if strings.Join(got, "|") != want {
		t.Errorf("logs %q", got)
	}
}

// What a handler keeps of its event without copying it changes after the
// call, as on the real host; what it hands to the host functions does not.
func TestEventOverwrittenAfterCall(t *testing.T) {
	var kept, copied string
	var h pdktest.Host
	res := h.RunHandler(func(e *pdk.Event) error {
		kept, copied = e.Type, strings.Clone(e.Type)
		pdk.Info(e.Type)
		return pdk.KVSet(e.Subject, e.Data)
	}, pdk.Event{Type: "order.created", Subject: "k", Data: []byte("v")})
	if res.Status != pdk.StatusDone {
		t.Fatal(res.Reason)
	}
	if kept != strings.Repeat(string(pdktest.Overwritten), len(copied)) || copied != "order.created" {
		t.Errorf("kept %q, copied %q", kept, copied)
	}
	if res.Logs[0].Text != "order.created" || string(h.KV["k"]) != "v" {
		t.Errorf("logs %v, KV %q", res.Logs, h.KV)
	}
}
