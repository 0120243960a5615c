package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Accepted is the body of a 202 response to an ingest request.
type Accepted struct {
	// IDs are the ids of the events, in the order they were sent, stamped
	// ones included.
	IDs []string `json:"ids"`
	// Duplicates are indexes into IDs of the events that the bus had
	// already accepted within its dedup window (same source and id): they
	// were accepted again but not enqueued again.
	Duplicates []int `json:"duplicates"`
}

// ErrorResponse is the body of every error response of the package.
type ErrorResponse struct {
	// Error says what is wrong, in a sentence meant for a person.
	Error string `json:"error"`
	// Field names what the error is about, when it is one thing: a ce-
	// header ("ce-time"), the Content-Type header, an attribute of a
	// structured event ("time"), prefixed by its batch index ("[2].time"),
	// "body", or "path".
	Field string `json:"field,omitempty"`
	// Index is the batch element at fault: the malformed one, or the first
	// one the bus refused.
	Index *int `json:"index,omitempty"`
	// Subscription names the full subscription of a 429.
	Subscription string `json:"subscription,omitempty"`
	// IDs are, for a refusal by the bus, the ids of the events accepted
	// before it (an empty list when there were none). The events from
	// Index on were not accepted.
	IDs []string `json:"ids,omitzero"`
	// Duplicates are indexes into IDs, as in Accepted.
	Duplicates []int `json:"duplicates,omitempty"`
}

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

// writeJSON renders v with status. It is the package's one renderer:
// successes and errors alike go through it.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for the package's types
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

// writeError renders an error response.
func writeError(w http.ResponseWriter, status int, r *ErrorResponse) {
	writeJSON(w, status, r)
}
