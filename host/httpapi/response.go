package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/evhost/evhost/host/api"
)

// Accepted is the body of a 202 response to an ingest request.
type Accepted = api.Accepted

// ErrorResponse is the body of every error response of the API: ingest's
// and the admin routes' alike.
type ErrorResponse = api.ErrorResponse

// requestError is a refusal of a request, rendered as an ErrorResponse.
type requestError struct {
	status int
	msg    string
	field  string
	index  int // batch element at fault, or -1
}

func (e *requestError) Error() string { return e.msg }

func badRequest(field, msg string) *requestError {
	return &requestError{status: http.StatusBadRequest, msg: msg, field: field, index: -1}
}

func (e *requestError) response() *ErrorResponse {
	r := &ErrorResponse{Error: e.msg, Field: e.field}
	if e.index >= 0 {
		i := e.index
		r.Index = &i
	}
	return r
}

// WriteJSON renders v with status: the API's one renderer, for ingest's
// answers and the admin routes' alike.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for the API's types
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error rendering the response"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// WriteError renders an error response.
func WriteError(w http.ResponseWriter, status int, r *ErrorResponse) {
	WriteJSON(w, status, r)
}
