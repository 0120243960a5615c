package pdk

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/evhost/evhost/plugins/pdk/internal/envelope"
)

// Header holds HTTP header fields. Names are case-insensitive; the methods
// store them in lower case, which is how they cross the ABI. Use the methods
// rather than indexing the map with mixed-case names.
type Header map[string][]string

// Get returns the first value of the field name, or "".
func (h Header) Get(name string) string {
	if v := h[headerKey(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns all values of the field name.
func (h Header) Values(name string) []string { return h[headerKey(name)] }

// Set replaces the values of the field name with value.
func (h Header) Set(name, value string) { h[headerKey(name)] = []string{value} }

// Add appends value to the values of the field name.
func (h Header) Add(name, value string) {
	k := headerKey(name)
	h[k] = append(h[k], value)
}

// Del removes the field name.
func (h Header) Del(name string) { delete(h, headerKey(name)) }

func headerKey(name string) string { return strings.ToLower(name) }

// HTTPRequest is an outbound HTTP request for DoHTTP.
type HTTPRequest struct {
	Method string // "GET" when empty
	URL    string // absolute http or https URL of a host on the plugin's allow-list
	Header Header
	Body   []byte
}

// HTTPResponse is the answer to an HTTPRequest. HTTP error statuses (4xx,
// 5xx) are ordinary responses, not errors.
type HTTPResponse struct {
	Status int
	Header Header
	Body   []byte
}

var httpBuf []byte // reused request encoding: the host copies it

// DoHTTP sends req through the host (ABI host function http_request) and
// returns the response. The host allows only destinations on the plugin's
// allow-list (ErrNotPermitted, also after a redirect), caps request and
// response sizes (ErrLimit), and bounds the call by the handler's deadline;
// a timeout, DNS or connection failure is ErrTransient. A plugin that never
// calls DoHTTP does not import http_request and needs no allow-list.
func DoHTTP(req *HTTPRequest) (*HTTPResponse, error) {
	b, err := req.AppendBinary(httpBuf[:0])
	if err != nil {
		return nil, err
	}
	out, code := hostHTTPRequest(b)
	if cap(b) <= maxKeptBuf {
		httpBuf = b
	}
	if code != 0 {
		return nil, &HostError{Op: "http_request " + req.Method + " " + req.URL, Code: code}
	}
	resp := new(HTTPResponse)
	if err := resp.decode(out); err != nil {
		return nil, err
	}
	return resp, nil
}

// MarshalBinary encodes r in the ABI v1 encoding of section 4: attributes
// method, url and one header.<name> per value, then the body.
func (r *HTTPRequest) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// AppendBinary appends the encoding of MarshalBinary to b.
func (r *HTTPRequest) AppendBinary(b []byte) ([]byte, error) {
	method := r.Method
	if method == "" {
		method = "GET"
	}
	b = envelope.AppendAttr(b, "method", method)
	b = envelope.AppendAttr(b, "url", r.URL)
	b, err := appendHeader(b, r.Header)
	if err != nil {
		return b, err
	}
	return envelope.AppendEnd(b, r.Body), nil
}

// UnmarshalBinary decodes an encoded request into r, replacing its
// contents. Method and url are required. The result shares no memory with b.
func (r *HTTPRequest) UnmarshalBinary(b []byte) error {
	*r = HTTPRequest{}
	fields, body, err := envelope.Decode(b)
	if err != nil {
		return err
	}
	for _, f := range fields {
		switch {
		case f.Name == "method":
			r.Method = f.Value
		case f.Name == "url":
			r.URL = f.Value
		case !addHeader(&r.Header, f):
			return fmt.Errorf("%w: unknown HTTP request attribute %q", ErrMalformed, f.Name)
		}
	}
	if r.Method == "" || r.URL == "" {
		return fmt.Errorf("%w: HTTP request without method or url", ErrMalformed)
	}
	r.Body = slices.Clone(body)
	return nil
}

// MarshalBinary encodes r in the ABI v1 encoding of section 4: attribute
// status and one header.<name> per value, then the body.
func (r *HTTPResponse) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// AppendBinary appends the encoding of MarshalBinary to b.
func (r *HTTPResponse) AppendBinary(b []byte) ([]byte, error) {
	b = envelope.AppendAttr(b, "status", strconv.Itoa(r.Status))
	b, err := appendHeader(b, r.Header)
	if err != nil {
		return b, err
	}
	return envelope.AppendEnd(b, r.Body), nil
}

// UnmarshalBinary decodes an encoded response into r, replacing its
// contents. The result shares no memory with b.
func (r *HTTPResponse) UnmarshalBinary(b []byte) error {
	if err := r.decode(b); err != nil {
		return err
	}
	r.Body = slices.Clone(r.Body)
	return nil
}

// decode is UnmarshalBinary with Body aliasing b (a fresh host block).
func (r *HTTPResponse) decode(b []byte) error {
	*r = HTTPResponse{}
	fields, body, err := envelope.Decode(b)
	if err != nil {
		return fmt.Errorf("pdk: http_request: response: %w", err)
	}
	status := ""
	for _, f := range fields {
		switch {
		case f.Name == "status":
			status = f.Value
		case !addHeader(&r.Header, f):
			return fmt.Errorf("%w: unknown HTTP response attribute %q", ErrMalformed, f.Name)
		}
	}
	if r.Status, err = strconv.Atoi(status); err != nil || r.Status < 100 || r.Status > 999 {
		return fmt.Errorf("%w: HTTP response status %q", ErrMalformed, status)
	}
	r.Body = body
	return nil
}

// appendHeader appends one header.<name> attribute per value, names sorted.
func appendHeader(b []byte, h Header) ([]byte, error) {
	for _, name := range slices.Sorted(maps.Keys(h)) {
		attr := envelope.MultiValuedPrefix + headerKey(name)
		if err := envelope.CheckName(attr); err != nil || name == "" {
			return b, fmt.Errorf("%w: HTTP header name %q", ErrMalformed, name)
		}
		for _, v := range h[name] {
			b = envelope.AppendAttr(b, attr, v)
		}
	}
	return b, nil
}

// addHeader adds f to *h when it is a header.<name> attribute.
func addHeader(h *Header, f envelope.Field) bool {
	name, ok := strings.CutPrefix(f.Name, envelope.MultiValuedPrefix)
	if !ok || name == "" {
		return false
	}
	if *h == nil {
		*h = Header{}
	}
	h.Add(name, f.Value)
	return true
}
