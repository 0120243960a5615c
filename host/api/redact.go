package api

import (
	"errors"
	"net/url"
	"strings"
)

// Redacted replaces a secret in what the daemon shows.
const Redacted = "redacted"

// RedactURL returns the URL s fit to show in an API answer, a log line or
// an error: the value of each query parameter, and a password in its user
// information, replaced by "redacted" (webhook receivers commonly take a
// token in the query: ?token=...). A query parameter without a value, or a
// query or URL that does not parse, is replaced whole.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.IndexAny(s, "?#@"); i >= 0 {
			return s[:i] + "?" + Redacted
		}
		return s
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Redacted)
		}
	}
	if u.RawQuery != "" || u.ForceQuery {
		q, err := url.ParseQuery(u.RawQuery)
		whole := err != nil
		for k, vs := range q {
			if len(vs) == 0 || (len(vs) == 1 && vs[0] == "") {
				whole = true // ?SECRET: the name is the secret
			}
			q[k] = []string{Redacted}
		}
		if whole {
			u.RawQuery = Redacted
		} else {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// RedactURLError returns err with the URL that a *url.Error in it names
// (the error of an HTTP client call) redacted in its message; it wraps
// err, so errors.Is and errors.As still see the chain. Other errors are
// returned as they are.
func RedactURLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), ue.URL, RedactURL(ue.URL)), err: err}
}

// redactedError is an error whose message has a URL redacted.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
