package admin

import (
	"context"
	"net/http"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/httpapi"
)

// Reloader is what the plugin routes need of the daemon.
type Reloader interface {
	// Plugins returns what serves each plugin now.
	Plugins() []api.PluginInfo
	// Release returns the release the daemon runs, or nil when it is not
	// in deploy mode.
	Release() *api.ReleaseInfo
	// ReloadAll reloads the config, then every plugin whose module
	// changed (what SIGHUP does).
	ReloadAll(ctx context.Context) error
}

// Plugins offers GET /v1/plugins and POST /v1/admin/reload.
type Plugins struct {
	Daemon Reloader
}

var _ httpapi.Routes = (*Plugins)(nil)

// Routes implements httpapi.Routes.
func (p *Plugins) Routes() []httpapi.Route {
	return []httpapi.Route{
		{Pattern: "GET /v1/plugins", Handler: http.HandlerFunc(p.serveList)},
		{Pattern: "POST /v1/admin/reload", Handler: http.HandlerFunc(p.serveReload)},
	}
}

// serveList is GET /v1/plugins: each plugin's version, when it was loaded,
// its counters and its last refused reload; in deploy mode, the release
// running and the last one refused.
func (p *Plugins) serveList(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{"plugins": p.Daemon.Plugins()}
	if rel := p.Daemon.Release(); rel != nil {
		body["release"] = rel
	}
	httpapi.WriteJSON(w, http.StatusOK, body)
}

// serveReload is POST /v1/admin/reload: re-read the config and every
// plugin file, as SIGHUP does.
func (p *Plugins) serveReload(w http.ResponseWriter, r *http.Request) {
	if err := p.Daemon.ReloadAll(r.Context()); err != nil {
		httpapi.WriteError(w, http.StatusUnprocessableEntity, &api.ErrorResponse{Error: err.Error()})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"reloaded": true, "plugins": p.Daemon.Plugins()})
}
