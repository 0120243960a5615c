package sources

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/httpapi"
	"github.com/evhost/evhost/host/sources/verify"
)

// HookPrefix is where webhook sources are served.
const HookPrefix = "/v1/hooks/"

// maxIDLen bounds an id taken from a header or the body.
const maxIDLen = 256

// maxExtValue bounds the value of an extension taken from a header.
const maxExtValue = 1024

// hook is one enabled webhook source.
type hook struct {
	spec HookSpec
	st   *stats
	set  *Set
}

// Routes implements httpapi.Routes: POST /v1/hooks/{path...}, without the
// bearer token (the signature is the credential; the server's Host and
// cross-origin guards still run first).
func (s *Set) Routes() []httpapi.Route {
	return []httpapi.Route{{Pattern: "POST " + HookPrefix + "{path...}", Handler: http.HandlerFunc(s.serveHook), Public: true}}
}

// serveHook verifies a provider's request and publishes its event.
func (s *Set) serveHook(w http.ResponseWriter, r *http.Request) {
	h := (*s.hooks.Load())[r.PathValue("path")]
	if h == nil {
		httpapi.NotFound(w, "no webhook source at "+r.URL.Path)
		return
	}
	h.serve(w, r)
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	sp := &h.spec
	if ready := h.set.opts.Ready; ready != nil {
		if err := ready(); err != nil {
			h.refuse(w, r, ReasonNotReady, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
	}
	limit := sp.MaxBody
	if limit <= 0 {
		limit = httpapi.DefaultMaxBody
	}
	tooLarge := fmt.Sprintf("the body is larger than the limit of %d bytes", limit)
	if r.ContentLength > limit {
		h.refuse(w, r, ReasonTooLarge, http.StatusRequestEntityTooLarge, tooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.refuse(w, r, ReasonTooLarge, http.StatusRequestEntityTooLarge, tooLarge)
		} else {
			h.refuse(w, r, ReasonInvalid, http.StatusBadRequest, "reading the body: "+err.Error())
		}
		return
	}
	if err := sp.Verifier.Verify(r.Header, body); err != nil {
		reason := ReasonSignature
		if errors.Is(err, verify.ErrTimestamp) {
			reason = ReasonTimestamp
		}
		h.refuse(w, r, reason, http.StatusUnauthorized, "signature verification failed: "+strings.TrimPrefix(err.Error(), "verify: "))
		return
	}
	ev, field, err := h.event(r, body)
	if err != nil {
		h.refuse(w, r, ReasonInvalid, http.StatusBadRequest, err.Error(), field)
		return
	}
	ack, err := h.set.opts.Publisher(api.SourceWebhook).Publish(r.Context(), ev)
	if err != nil {
		status := httpapi.BusErrorStatus(err)
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", httpapi.RetryAfter)
		}
		h.st.refuse(ReasonBus, err)
		h.set.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook source: the bus refused the event", slog.String("source", sp.Name),
			slog.String("event_id", ev.ID), slog.Any("error", err))
		httpapi.WriteError(w, status, &api.ErrorResponse{Error: "publishing the event: " + err.Error()})
		return
	}
	h.st.produce(ack.Duplicate)
	dups := []int{}
	if ack.Duplicate {
		dups = []int{0}
	}
	httpapi.WriteJSON(w, http.StatusAccepted, api.Accepted{IDs: []string{ev.ID}, Duplicates: dups})
}

// refuse renders a refusal, counts it and records it as the last error.
func (h *hook) refuse(w http.ResponseWriter, r *http.Request, reason string, status int, msg string, field ...string) {
	h.st.refuse(reason, errors.New(msg))
	h.set.log.LogAttrs(r.Context(), slog.LevelDebug, "webhook source refused a request", slog.String("source", h.spec.Name),
		slog.String("reason", reason), slog.Int("status", status), slog.String("error", msg))
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", httpapi.RetryAfter)
	}
	resp := &api.ErrorResponse{Error: msg}
	if len(field) > 0 {
		resp.Field = field[0]
	}
	httpapi.WriteError(w, status, resp)
}

// event makes the CloudEvent of a verified request, or says which part of
// the request (a header, "body") lacks what the source needs.
func (h *hook) event(r *http.Request, body []byte) (*event.Event, string, error) {
	sp := &h.spec
	ev := &event.Event{Source: sp.Source, SpecVersion: event.SpecVersion, Time: time.Now().UTC(), Data: body}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, "Content-Type", fmt.Errorf("malformed Content-Type %q", ct)
		}
		ev.DataContentType = mt
	}
	var members map[string]json.RawMessage
	if sp.TypeField != "" || sp.IDField != "" || event.IsJSONContentType(ev.DataContentType) {
		if err := json.Unmarshal(body, &members); err != nil && (sp.TypeField != "" || sp.IDField != "") {
			return nil, "body", errors.New("the body is not a JSON object, which this source reads its event's type or id from")
		} else if err != nil && !json.Valid(body) {
			return nil, "body", errors.New("the Content-Type says JSON but the body is not JSON")
		}
	}
	field := func(name string) (string, error) {
		raw, ok := members[name]
		var s string
		if !ok || json.Unmarshal(raw, &s) != nil || s == "" {
			return "", fmt.Errorf("the body has no string member %q", name)
		}
		return s, nil
	}
	var typ string
	var err error
	switch {
	case sp.Type != "":
		typ = sp.Type
	case sp.TypeHeader != "":
		if typ = r.Header.Get(sp.TypeHeader); typ == "" {
			return nil, sp.TypeHeader, fmt.Errorf("no %s header, which gives the event's type", sp.TypeHeader)
		}
	default:
		if typ, err = field(sp.TypeField); err != nil {
			return nil, "body", err
		}
	}
	ev.Type = sp.TypePrefix + typ
	if err := event.ValidType(ev.Type); err != nil {
		return nil, "type", fmt.Errorf("the event's type %q is not valid: %v", ev.Type, err)
	}
	switch {
	case sp.IDHeader != "":
		if ev.ID = r.Header.Get(sp.IDHeader); ev.ID == "" {
			return nil, sp.IDHeader, fmt.Errorf("no %s header, which gives the event's id", sp.IDHeader)
		}
	case sp.IDField != "":
		if ev.ID, err = field(sp.IDField); err != nil {
			return nil, "body", err
		}
	default:
		ev.ID = event.NewID()
	}
	if len(ev.ID) > maxIDLen || !utf8.ValidString(ev.ID) {
		return nil, "id", fmt.Errorf("the event's id is longer than %d bytes or not UTF-8", maxIDLen)
	}
	for _, name := range sp.ExtensionHeaders {
		v := r.Header.Get(name)
		if v == "" || len(v) > maxExtValue || !utf8.ValidString(v) {
			continue
		}
		ev.SetExt(event.ExtensionNameOf(name), v)
	}
	if err := ev.Validate(); err != nil {
		return nil, "", err
	}
	return ev, "", nil
}
