package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every Standard Webhooks signing secret; the base64 of
// the key follows it.
const SecretPrefix = "whsec_"

// minSecretLen is the least key length accepted, in bytes (the
// specification asks for 24 to 64; 16 is what the config accepts too).
const minSecretLen = 16

// ErrBadSecret is wrapped by the errors of ParseSecrets.
var ErrBadSecret = errors.New("webhook: invalid secret")

// ParseSecrets parses one or more whsec_ secrets separated by spaces (more
// than one during a rotation) into their keys. The error names a bad
// secret by its position, never by its value.
func ParseSecrets(s string) ([][]byte, error) {
	parts := strings.Fields(s)
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadSecret)
	}
	keys := make([][]byte, 0, len(parts))
	for i, part := range parts {
		b64, ok := strings.CutPrefix(part, SecretPrefix)
		if !ok {
			return nil, fmt.Errorf("%w: secret %d does not start with %s", ErrBadSecret, i+1, SecretPrefix)
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) < minSecretLen {
			return nil, fmt.Errorf("%w: secret %d is not %s followed by the base64 of at least %d bytes", ErrBadSecret, i+1, SecretPrefix, minSecretLen)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// Sign returns the webhook-signature header value of a message: for each
// secret, "v1," and the base64 of the HMAC-SHA256 of "id.timestamp.body"
// (timestamp in unix seconds), separated by spaces.
func Sign(secrets [][]byte, id string, ts time.Time, body []byte) string {
	var sb strings.Builder
	var sum [sha256.Size]byte
	unix := strconv.FormatInt(ts.Unix(), 10)
	for i, key := range secrets {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(unix))
		m.Write([]byte{'.'})
		m.Write(body)
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString("v1,")
		sb.WriteString(base64.StdEncoding.EncodeToString(m.Sum(sum[:0])))
	}
	return sb.String()
}
