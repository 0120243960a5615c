package api_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/evhost/evhost/host/api"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.example.com/in":                      "https://hooks.example.com/in",
		"https://hooks.example.com/in?token=s3cret":         "https://hooks.example.com/in?token=redacted",
		"https://hooks.example.com/in?a=1&token=s3cret&a=2": "https://hooks.example.com/in?a=redacted&token=redacted",
		"https://hooks.example.com/in?s3cret":               "https://hooks.example.com/in?redacted",
		"https://user:pw@hooks.example.com/in":              "https://user:redacted@hooks.example.com/in",
		"https://hooks.example.com/in?token=s3cret#frag":    "https://hooks.example.com/in?token=redacted#frag",
		"https://hooks.example.com/in?token=%zz":            "https://hooks.example.com/in?redacted",
		"http://[::1%zz]/in?token=s3cret":                   "http://[::1%zz]/in?redacted",
		"https://hooks.example.com/in?":                     "https://hooks.example.com/in?",
	} {
		if got := api.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(api.RedactURL(in), "s3cret") {
			t.Errorf("RedactURL(%q) shows the secret", in)
		}
	}
}

func TestRedactURLError(t *testing.T) {
	_, err := http.Post("http://127.0.0.1:1/in?token=s3cret", "text/plain", nil)
	if err == nil || !strings.Contains(err.Error(), "s3cret") {
		t.Skipf("the client's error does not name the URL: %v", err)
	}
	for _, e := range []error{err, fmt.Errorf("delivering: %w", err)} {
		r := api.RedactURLError(e)
		if strings.Contains(r.Error(), "s3cret") || !strings.Contains(r.Error(), "token=redacted") {
			t.Errorf("RedactURLError: %v", r)
		}
		if !errors.Is(r, e) && !errors.Is(r, err) {
			t.Errorf("RedactURLError lost the chain: %v", r)
		}
	}
}
