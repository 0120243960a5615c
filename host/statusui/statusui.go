// Package statusui holds the assets of the daemon's status page: one HTML
// page, one script and one style sheet, embedded in the binary, so the
// page needs no build step, no network beyond the daemon, and works
// offline. The assets hold no data: the script reads it from the daemon's
// JSON API (GET /v1/status, /v1/admin/dlq, /v1/events/{id}/trace) with
// the bearer token the user enters, and renders every value as text.
//
// It imports the standard library only.
package statusui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// contentSecurityPolicy lets the page load only its own script and style
// and talk only to its own origin: no inline script, so that a value that
// escaped the page's escaping still could not run.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// Handler serves the assets, index.html at "/". Mount it under a prefix
// with http.StripPrefix.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree has the directory
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
