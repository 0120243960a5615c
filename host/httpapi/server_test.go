package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/evhost/evhost/host/httpapi"
)

func TestBearerToken(t *testing.T) {
	h := newHarness(t, httpapi.Options{Token: "s3cret"}, 0)

	res := post(t, h.url+"/v1/events/a", `{}`)
	e := res.errorBody(t, http.StatusUnauthorized)
	if got := res.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") || strings.Contains(got, "invalid_token") {
		t.Errorf("WWW-Authenticate %q", got)
	}
	if e.Field != "Authorization" {
		t.Errorf("field %q", e.Field)
	}
	for _, auth := range []string{"Bearer wrong", "Bearer s3cret2", "Basic s3cret", "s3cret", "Bearer"} {
		res := post(t, h.url+"/v1/events/a", `{}`, "Authorization", auth)
		res.errorBody(t, http.StatusUnauthorized)
		if auth != "s3cret" && auth != "Bearer" && !strings.Contains(res.header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%q: WWW-Authenticate %q", auth, res.header.Get("WWW-Authenticate"))
		}
	}
	h.empty(t)

	for _, auth := range []string{"Bearer s3cret", "bearer s3cret"} {
		post(t, h.url+"/v1/events/a", `{}`, "Authorization", auth).accepted(t)
		h.next(t)
	}

	// Health needs no token.
	for _, path := range []string{"/healthz", "/readyz"} {
		if res := do(t, http.MethodGet, h.url+path, nil); res.status != http.StatusOK {
			t.Errorf("%s: %d %s", path, res.status, res.body)
		}
	}
	// Unknown paths and methods are behind the token too.
	do(t, http.MethodGet, h.url+"/nope", nil).errorBody(t, http.StatusUnauthorized)
	do(t, http.MethodGet, h.url+"/nope", nil, "Authorization", "Bearer s3cret").errorBody(t, http.StatusNotFound)
	do(t, http.MethodDelete, h.url+"/v1/events", nil).errorBody(t, http.StatusUnauthorized)
}

func TestRoutes(t *testing.T) {
	s := httpapi.New(httpapi.Options{Publisher: &fakePublisher{}, Token: "t"})
	s.Handle("GET /v1/plugins", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("plugins"))
	}))
	s.HandlePublic("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("metrics"))
	}))
	srv := newServerFor(t, s)

	res := do(t, http.MethodGet, srv+"/v1/events", nil, "Authorization", "Bearer t")
	e := res.errorBody(t, http.StatusMethodNotAllowed)
	if res.header.Get("Allow") != "POST" || !strings.Contains(e.Error, "GET") {
		t.Errorf("405: Allow %q, %s", res.header.Get("Allow"), res.body)
	}
	res = do(t, http.MethodPut, srv+"/healthz", nil, "Authorization", "Bearer t")
	if res.errorBody(t, http.StatusMethodNotAllowed); !strings.Contains(res.header.Get("Allow"), "GET") {
		t.Errorf("Allow %q", res.header.Get("Allow"))
	}
	if e := do(t, http.MethodGet, srv+"/v2/things", nil, "Authorization", "Bearer t").errorBody(t, http.StatusNotFound); !strings.Contains(e.Error, "/v2/things") {
		t.Errorf("404: %s", e.Error)
	}

	do(t, http.MethodGet, srv+"/v1/plugins", nil).errorBody(t, http.StatusUnauthorized)
	if res := do(t, http.MethodGet, srv+"/v1/plugins", nil, "Authorization", "Bearer t"); res.status != 200 || string(res.body) != "plugins" {
		t.Errorf("mounted route: %d %s", res.status, res.body)
	}
	if res := do(t, http.MethodGet, srv+"/metrics", nil); res.status != 200 || string(res.body) != "metrics" {
		t.Errorf("public route: %d %s", res.status, res.body)
	}
	if res := do(t, http.MethodHead, srv+"/healthz", nil); res.status != 200 {
		t.Errorf("HEAD /healthz: %d", res.status)
	}
}
