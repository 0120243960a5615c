package replay

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/httpapi"
)

var _ httpapi.Routes = (*Replayer)(nil)

// Routes implements httpapi.Routes: POST /v1/admin/replay, behind the
// token.
func (rp *Replayer) Routes() []httpapi.Route {
	return []httpapi.Route{{Pattern: "POST /v1/admin/replay", Handler: http.HandlerFunc(rp.serve)}}
}

// serve is POST /v1/admin/replay?subscription=S[&from_seq=N|&from_time=T][&to_seq=N|&to_time=T][&emit=false]:
// replay a range of the journal into one subscription and answer with the
// ReplayReport. A body of Content-Type application/wasm makes it a shadow
// replay of that module: nothing is published.
func (rp *Replayer) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := Options{Subscription: q.Get("subscription")}
	if opts.Subscription == "" {
		httpapi.BadQuery(w, "subscription", "missing subscription: the plugin whose subscription to replay")
		return
	}
	seq := func(name string, dst *uint64) bool {
		if s := q.Get(name); s != "" {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil || n == 0 {
				httpapi.BadQuery(w, name, fmt.Sprintf("invalid %s %q: want a stream sequence, 1 or more", name, s))
				return false
			}
			*dst = n
		}
		return true
	}
	tm := func(name string, dst *time.Time) bool {
		if s := q.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				httpapi.BadQuery(w, name, fmt.Sprintf("invalid %s %q: want an RFC 3339 time such as 2026-11-25T10:00:00Z", name, s))
				return false
			}
			*dst = t
		}
		return true
	}
	if !seq("from_seq", &opts.FromSeq) || !seq("to_seq", &opts.ToSeq) || !tm("from_time", &opts.FromTime) || !tm("to_time", &opts.ToTime) {
		return
	}
	if opts.FromSeq != 0 && !opts.FromTime.IsZero() || opts.ToSeq != 0 && !opts.ToTime.IsZero() {
		httpapi.BadQuery(w, "from_seq", "give each end of the range as a sequence or a time, not both")
		return
	}
	switch e := q.Get("emit"); e {
	case "", "true":
	case "false":
		opts.NoEmit = true
	default:
		httpapi.BadQuery(w, "emit", fmt.Sprintf("invalid emit %q: want true or false", e))
		return
	}
	if r.Header.Get("Content-Type") == "application/wasm" {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxCandidateBytes))
		if err != nil {
			httpapi.WriteJSON(w, http.StatusRequestEntityTooLarge, &api.ErrorResponse{Error: "reading the candidate module: " + err.Error(), Field: "body"})
			return
		}
		if len(b) == 0 {
			httpapi.BadQuery(w, "body", "empty candidate module")
			return
		}
		opts.Candidate = b
	}
	rep, err := rp.Replay(r.Context(), opts)
	switch {
	case errors.Is(err, ErrNoJournal):
		httpapi.WriteJSON(w, http.StatusConflict, &api.ErrorResponse{Error: err.Error()})
	case err != nil && rep == nil:
		status := http.StatusUnprocessableEntity
		if rp.Registry.Snapshot().Plugin(opts.Subscription) == nil {
			status = http.StatusNotFound
		}
		httpapi.WriteJSON(w, status, &api.ErrorResponse{Error: err.Error()})
	case err != nil:
		httpapi.WriteJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error(), "report": rep})
	default:
		httpapi.WriteJSON(w, http.StatusOK, rep)
	}
}
