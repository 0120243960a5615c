package host

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/evhost/evhost/host/httpapi"
)

// MaxCandidateBytes caps the module a shadow replay request may upload.
const MaxCandidateBytes = 256 << 20

// handleReplay registers POST /v1/admin/replay.
func (h *Host) handleReplay() {
	h.api.Handle("POST /v1/admin/replay", http.HandlerFunc(h.serveReplay))
}

// serveReplay is POST /v1/admin/replay?subscription=S[&from_seq=N|&from_time=T][&to_seq=N|&to_time=T][&emit=false]:
// replay a range of the journal into one subscription and answer with the
// ReplayReport. A body of Content-Type application/wasm makes it a shadow
// replay of that module: nothing is published.
func (h *Host) serveReplay(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := ReplayOptions{Subscription: q.Get("subscription")}
	if opts.Subscription == "" {
		badQuery(w, "subscription", "missing subscription: the plugin whose subscription to replay")
		return
	}
	seq := func(name string, dst *uint64) bool {
		if s := q.Get(name); s != "" {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil || n == 0 {
				badQuery(w, name, fmt.Sprintf("invalid %s %q: want a stream sequence, 1 or more", name, s))
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
				badQuery(w, name, fmt.Sprintf("invalid %s %q: want an RFC 3339 time such as 2026-11-25T10:00:00Z", name, s))
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
		badQuery(w, "from_seq", "give each end of the range as a sequence or a time, not both")
		return
	}
	switch e := q.Get("emit"); e {
	case "", "true":
	case "false":
		opts.NoEmit = true
	default:
		badQuery(w, "emit", fmt.Sprintf("invalid emit %q: want true or false", e))
		return
	}
	if r.Header.Get("Content-Type") == "application/wasm" {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxCandidateBytes))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, &httpapi.ErrorResponse{Error: "reading the candidate module: " + err.Error(), Field: "body"})
			return
		}
		if len(b) == 0 {
			badQuery(w, "body", "empty candidate module")
			return
		}
		opts.Candidate = b
	}
	rep, err := h.Replay(r.Context(), opts)
	switch {
	case errors.Is(err, ErrNoJournal):
		writeJSON(w, http.StatusConflict, &httpapi.ErrorResponse{Error: err.Error()})
	case err != nil && rep == nil:
		status := http.StatusUnprocessableEntity
		if h.Plugin(opts.Subscription) == nil {
			status = http.StatusNotFound
		}
		writeJSON(w, status, &httpapi.ErrorResponse{Error: err.Error()})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error(), "report": rep})
	default:
		writeJSON(w, http.StatusOK, rep)
	}
}
