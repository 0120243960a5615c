package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/httpapi"
)

// Scoped tokens: 401 without a token or with an unknown one, 403 with a
// token that lacks the route's scope or may not publish the event type;
// the single Token can do everything; Denied hears the token's name.
func TestScopedTokens(t *testing.T) {
	var denied deniedLog
	reached := map[string]int{}
	b := membus.New(membus.Options{})
	t.Cleanup(func() { b.Close(context.Background()) })
	s := httpapi.New(httpapi.Options{
		Publisher: b,
		Token:     "legacy-admin",
		Tokens: []httpapi.Token{
			{Name: "shop", Value: "tok-shop", Scopes: []string{"publish"}, Events: []string{"order.*"}},
			{Name: "any-producer", Value: "tok-any", Scopes: []string{"publish"}},
			{Name: "dashboard", Value: "tok-read", Scopes: []string{"read"}},
			{Name: "ops", Value: "tok-ops", Scopes: []string{"admin"}},
		},
		Denied: denied.denied,
	})
	for _, p := range []string{"GET /v1/status", "POST /v1/admin/reload"} {
		s.Handle(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached[p]++
			httpapi.WriteJSON(w, http.StatusOK, map[string]string{})
		}))
	}
	url := newServerFor(t, s)
	auth := func(tok string) []string {
		if tok == "" {
			return nil
		}
		return []string{"Authorization", "Bearer " + tok}
	}
	type req struct{ method, path, body, tok string }
	typed := func(typ string) string { return "/v1/events/" + typ }
	batch := `[{"type":"order.placed","source":"s","id":"1","specversion":"1.0"},{"type":"user.deleted","source":"s","id":"2","specversion":"1.0"}]`
	for _, tc := range []struct {
		req
		status int
		field  string
	}{
		{req{"POST", typed("order.placed"), `{}`, ""}, 401, "Authorization"},
		{req{"POST", typed("order.placed"), `{}`, "nope"}, 401, "Authorization"},
		{req{"GET", "/v1/status", ``, ""}, 401, "Authorization"},
		{req{"POST", typed("order.placed"), `{}`, "tok-shop"}, 202, ""},
		{req{"POST", typed("user.deleted"), `{}`, "tok-shop"}, 403, "type"},
		{req{"POST", "/v1/events", batch, "tok-shop"}, 403, "[1].type"},
		{req{"POST", "/v1/events", batch, "tok-any"}, 202, ""},
		{req{"GET", "/v1/status", ``, "tok-shop"}, 403, "Authorization"},
		{req{"POST", "/v1/admin/reload", ``, "tok-shop"}, 403, "Authorization"},
		{req{"GET", "/v1/status", ``, "tok-read"}, 200, ""},
		{req{"POST", "/v1/admin/reload", ``, "tok-read"}, 403, "Authorization"},
		{req{"POST", typed("order.placed"), `{}`, "tok-read"}, 403, "Authorization"},
		{req{"GET", "/v1/status", ``, "tok-ops"}, 200, ""},
		{req{"POST", "/v1/admin/reload", ``, "tok-ops"}, 200, ""},
		{req{"POST", typed("order.placed"), `{}`, "tok-ops"}, 403, "Authorization"},
		{req{"GET", "/v1/status", ``, "legacy-admin"}, 200, ""},
		{req{"POST", "/v1/admin/reload", ``, "legacy-admin"}, 200, ""},
		{req{"POST", typed("user.deleted"), `{}`, "legacy-admin"}, 202, ""},
		{req{"GET", "/healthz", ``, ""}, 200, ""},
	} {
		hdr := append(auth(tc.tok), "Content-Type", "application/cloudevents-batch+json")
		if !strings.HasPrefix(tc.body, "[") {
			hdr = auth(tc.tok)
		}
		res := do(t, tc.method, url+tc.path, []byte(tc.body), hdr...)
		if tc.status >= 400 {
			if e := res.errorBody(t, tc.status); e.Field != tc.field {
				t.Errorf("%v: field %q, want %q (%s)", tc.req, e.Field, tc.field, e.Error)
			}
		} else if res.status != tc.status {
			t.Errorf("%v: %d, want %d: %s", tc.req, res.status, tc.status, res.body)
		}
	}
	want := []string{"/unauthorized", "/unauthorized", "/unauthorized", "shop/event_type", "shop/event_type",
		"shop/scope", "shop/scope", "dashboard/scope", "dashboard/scope", "ops/scope"}
	if got := denied.list(); !slices.Equal(got, want) {
		t.Errorf("denied\n got %v\nwant %v", got, want)
	}
	if reached["POST /v1/admin/reload"] != 2 || reached["GET /v1/status"] != 3 {
		t.Errorf("handlers reached %v", reached)
	}
}
