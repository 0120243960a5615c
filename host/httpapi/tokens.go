package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/evhost/evhost/host/event"
)

// Scopes of a token: what it lets a client do. Each route needs one:
//
//	publish  POST /v1/events, POST /v1/events/{type}
//	read     every GET (status, plugins, dead letters, traces, webhooks;
//	         /metrics when it is not public)
//	admin    every other method (reload, replay, dead-letter retry,
//	         webhook enable, creation and deletion)
//
// A token with admin may also read.
const (
	ScopePublish = "publish"
	ScopeRead    = "read"
	ScopeAdmin   = "admin"
)

// Token is one bearer token of Options.Tokens.
type Token struct {
	// Name identifies the token in logs and metrics (never its value).
	Name string
	// Value is the secret the client sends as Authorization: Bearer.
	Value string
	// Scopes are what the token allows: ScopePublish, ScopeRead,
	// ScopeAdmin.
	Scopes []string
	// Events, for a token with ScopePublish, are the event types and
	// patterns (host/event syntax) it may publish; none means any.
	Events []string
}

// credential is a Token ready for the check.
type credential struct {
	name     string
	hash     [sha256.Size]byte
	publish  bool
	read     bool
	admin    bool
	patterns []event.Pattern // nil: any type
}

func newCredentials(legacy string, tokens []Token) ([]*credential, error) {
	var out []*credential
	if legacy != "" {
		// The single token of Options.Token can do everything, as it could
		// before scopes existed.
		out = append(out, &credential{name: "token", hash: sha256.Sum256([]byte(legacy)), publish: true, read: true, admin: true})
	}
	for _, t := range tokens {
		if t.Value == "" {
			return nil, fmt.Errorf("httpapi: token %q has no value", t.Name)
		}
		c := &credential{name: t.Name, hash: sha256.Sum256([]byte(t.Value))}
		for _, s := range t.Scopes {
			switch s {
			case ScopePublish:
				c.publish = true
			case ScopeRead:
				c.read = true
			case ScopeAdmin:
				c.admin, c.read = true, true
			default:
				return nil, fmt.Errorf("httpapi: token %q: unknown scope %q", t.Name, s)
			}
		}
		if len(t.Events) > 0 {
			ps, err := event.ParsePatterns(t.Events)
			if err != nil {
				return nil, fmt.Errorf("httpapi: token %q: %w", t.Name, err)
			}
			c.patterns = ps
		}
		out = append(out, c)
	}
	return out, nil
}

func (c *credential) allows(scope string) bool {
	switch scope {
	case ScopePublish:
		return c.publish
	case ScopeRead:
		return c.read
	}
	return c.admin
}

// scopeOf returns the scope a route pattern ("GET /v1/status") needs.
func scopeOf(pattern string) string {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		return ScopeAdmin // a pattern for every method: the strictest
	}
	switch {
	case method == http.MethodPost && (path == "/v1/events" || strings.HasPrefix(path, "/v1/events/")):
		return ScopePublish
	case method == http.MethodGet || method == http.MethodHead:
		return ScopeRead
	}
	return ScopeAdmin
}

// identify returns the credential r presents, nil for none or an unknown
// one, and whether r presented a token at all. Every credential is
// compared, in constant time, so that the time taken says nothing of
// which one (or how much of one) matched.
func (s *Server) identify(r *http.Request) (*credential, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if r.Header.Get("Authorization") == "" {
		return nil, false
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, true
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	var found *credential
	for _, c := range s.creds {
		if subtle.ConstantTimeCompare(sum[:], c.hash[:]) == 1 {
			found = c
		}
	}
	return found, true
}

type credentialKey struct{}

// credentialOf returns the credential a request was let in with, or nil.
func credentialOf(ctx context.Context) *credential {
	c, _ := ctx.Value(credentialKey{}).(*credential)
	return c
}

// requireScope lets r through to h when no token is configured, or when
// it presents a token with scope; it renders a 401 (no token, an unknown
// one) or a 403 (a token without the scope) otherwise.
func (s *Server) requireScope(scope string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.creds) == 0 {
			h.ServeHTTP(w, r)
			return
		}
		c, _ := s.identify(r)
		if c == nil {
			s.unauthorized(w, r)
			return
		}
		if !c.allows(scope) {
			s.denied(r, c.name, "scope")
			if isIngest(r) {
				s.refused(http.StatusForbidden)
			}
			WriteError(w, http.StatusForbidden, &ErrorResponse{Field: "Authorization",
				Error: fmt.Sprintf("token %q does not have the %s scope that %s %s needs", c.name, scope, r.Method, r.URL.Path)})
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), credentialKey{}, c)))
	})
}

// checkEventTypes refuses events whose type the request's token may not
// publish.
func checkEventTypes(r *http.Request, events []*event.Event, batch bool) *requestError {
	c := credentialOf(r.Context())
	if c == nil || c.patterns == nil {
		return nil
	}
	for i, e := range events {
		if event.MatchAny(c.patterns, e.Type) {
			continue
		}
		rerr := &requestError{status: http.StatusForbidden, field: "type", index: -1,
			msg: fmt.Sprintf("token %q may not publish events of type %q", c.name, e.Type)}
		if batch {
			rerr.field, rerr.index = fmt.Sprintf("[%d].type", i), i
			rerr.msg = fmt.Sprintf("batch element %d: %s", i, rerr.msg)
		}
		return rerr
	}
	return nil
}
