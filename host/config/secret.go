package config

import (
	"fmt"
	"log/slog"
)

// Secret holds a value that must never be printed or logged, such as the API
// token or a webhook signing secret. Every way of formatting it (fmt verbs,
// JSON, text, slog) shows "[redacted]"; only Value reveals it.
//
// In config.toml a secret key comes in three variants, of which at most one
// may be set: KEY (the value inline), KEY_env (the name of an environment
// variable) and KEY_file (a file whose content, without surrounding
// whitespace, is the value; a relative path resolves against the config
// file's directory). Load and Parse read the variable or the file, so that a
// missing one is reported with its position in the file.
//
// The zero Secret is unset.
type Secret struct {
	value  string
	source string // "inline", "env NAME" or "file PATH", for messages
	file   string // the resolved path of a value read from a file
}

// NewSecret returns a set Secret with the value v, for configurations built in code.
func NewSecret(v string) Secret { return Secret{value: v, source: "inline"} }

// Reread returns the secret with its file read again, for a value read
// from a file (a plugin's config_file: a JavaScript handler's source that
// a build rewrites, a rotated key); any other secret is returned as it is.
func (s Secret) Reread() (Secret, error) {
	if s.file == "" {
		return s, nil
	}
	return readFileSecret(s.file, func(p string) string { return p })
}

// Value returns the secret value, or "" when the secret is unset.
func (s Secret) Value() string { return s.value }

// IsSet reports whether the secret was given.
func (s Secret) IsSet() bool { return s.source != "" }

// Source says where the value came from ("inline", "env NAME" or "file
// PATH"), without revealing it; it is "" when the secret is unset.
func (s Secret) Source() string { return s.source }

const redacted = "[redacted]"

// String returns "[redacted]", or "" for an unset secret.
func (s Secret) String() string {
	if !s.IsSet() {
		return ""
	}
	return redacted
}

// GoString returns the same as String, so that %#v reveals nothing.
func (s Secret) GoString() string { return "config.Secret(" + s.String() + ")" }

// Format makes every fmt verb print the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, s.GoString())
	case verb == 'q':
		fmt.Fprintf(f, "%q", s.String())
	default:
		fmt.Fprint(f, s.String())
	}
}

// MarshalText returns the redacted form, so that encoders (JSON, TOML) never
// write the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue returns the redacted form for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
