package admin

import (
	"net/http"

	"github.com/evhost/evhost/host/httpapi"
)

// Config offers GET /v1/admin/config: the configuration the daemon runs
// now (after every reload; in deploy mode, its own [host] and [broker]
// with the release's rest), every default filled in and no secret in it,
// as `evhost config --json` prints a file's. It needs the admin scope,
// not read: it maps the daemon (its paths, its networks, where its
// secrets are read from).
type Config struct {
	// Effective returns the running configuration's effective document
	// (config.Config.Effective), which renders itself as JSON.
	Effective func() any
}

var _ httpapi.Routes = (*Config)(nil)

// Routes implements httpapi.Routes.
func (c *Config) Routes() []httpapi.Route {
	return []httpapi.Route{{Pattern: "GET /v1/admin/config", Scope: httpapi.ScopeAdmin,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			httpapi.WriteJSON(w, http.StatusOK, c.Effective())
		})}}
}
