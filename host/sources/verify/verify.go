package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Schemes, as [[sources.webhooks]] verify names them.
const (
	StandardWebhooks = "standard-webhooks"
	HMACSHA256       = "hmac-sha256"
	GitHub           = "github"
	Stripe           = "stripe"
)

// Headers the provider schemes read.
const (
	HeaderGitHubSignature = "X-Hub-Signature-256"
	HeaderStripeSignature = "Stripe-Signature"
)

// DefaultTolerance is how far a signed timestamp may be from now, either
// way, when Verifier.Tolerance is zero: the five minutes of the Standard
// Webhooks specification and of Stripe's libraries.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify, each wrapped with the detail. ErrMissing and ErrBad
// are signature faults; ErrTimestamp a signed time outside the tolerance.
var (
	ErrMissing   = errors.New("verify: missing signature")
	ErrBad       = errors.New("verify: signature does not match")
	ErrTimestamp = errors.New("verify: timestamp outside the tolerance")
)

// Verifier checks the requests of one webhook source. Its zero value is
// not usable: set Scheme and Secrets (and Header for HMACSHA256).
type Verifier struct {
	// Scheme is one of StandardWebhooks, HMACSHA256, GitHub and Stripe.
	Scheme string
	// Secrets are the secrets accepted, several while rotating. For
	// StandardWebhooks each is "whsec_" and the base64 of the key; for the
	// others the bytes of the secret as the provider shows it.
	Secrets []string
	// Header, Encoding ("hex" or "base64") and Prefix (such as
	// "sha256=") describe the signature of HMACSHA256.
	Header, Encoding, Prefix string
	// Tolerance bounds the age (and the advance) of a signed timestamp
	// (StandardWebhooks, Stripe); zero means DefaultTolerance.
	Tolerance time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	keys []*standardwebhooks.Webhook // StandardWebhooks
}

// Check checks the settings and prepares the keys: a malformed secret or
// an unknown scheme is an error that never quotes a secret.
func (v *Verifier) Check() error {
	if len(v.Secrets) == 0 {
		return errors.New("verify: no secret")
	}
	switch v.Scheme {
	case StandardWebhooks:
		v.keys = v.keys[:0]
		for i, s := range v.Secrets {
			key, err := ParseStandardSecret(s)
			if err != nil {
				return fmt.Errorf("verify: secret %d: %w", i+1, err)
			}
			wh, _ := standardwebhooks.NewWebhookRaw(key)
			v.keys = append(v.keys, wh)
		}
	case HMACSHA256:
		if v.Header == "" {
			return errors.New("verify: hmac-sha256 needs the header of the signature")
		}
		if v.Encoding != "hex" && v.Encoding != "base64" {
			return fmt.Errorf("verify: encoding %q (want hex or base64)", v.Encoding)
		}
	case GitHub, Stripe:
	default:
		return fmt.Errorf("verify: unknown scheme %q", v.Scheme)
	}
	return nil
}

// ParseStandardSecret returns the key of a Standard Webhooks secret:
// "whsec_" and the base64 of at least 16 bytes.
func ParseStandardSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New("does not start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) < 16 {
		return nil, errors.New("is not whsec_ followed by the base64 of at least 16 bytes")
	}
	return key, nil
}

// Verify checks the signature of a request with header h and body body;
// nil means one of the secrets signed it (and its timestamp, if the scheme
// signs one, is within the tolerance).
func (v *Verifier) Verify(h http.Header, body []byte) error {
	switch v.Scheme {
	case StandardWebhooks:
		return v.standard(h, body)
	case HMACSHA256:
		return v.hmac(h, body)
	case GitHub:
		return v.github(h, body)
	case Stripe:
		return v.stripe(h, body)
	}
	return fmt.Errorf("verify: unknown scheme %q", v.Scheme)
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// checkTime refuses a unix timestamp (a decimal string) outside the
// tolerance.
func (v *Verifier) checkTime(s string) error {
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: malformed timestamp", ErrBad)
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	now := v.now().Unix()
	if d := now - sec; d > int64(tol/time.Second) || -d > int64(tol/time.Second) {
		return fmt.Errorf("%w: signed %ds from now, tolerance %v", ErrTimestamp, -d, tol)
	}
	return nil
}

// standard checks webhook-id, webhook-timestamp and webhook-signature: the
// timestamp here (with the configured tolerance and clock), the signature
// by the official library.
func (v *Verifier) standard(h http.Header, body []byte) error {
	id, ts, sig := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sig == "" {
		return fmt.Errorf("%w: webhook-id, webhook-timestamp and webhook-signature are required", ErrMissing)
	}
	if err := v.checkTime(ts); err != nil {
		return err
	}
	for _, wh := range v.keys {
		if wh.VerifyIgnoringTimestamp(body, h) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 signature of webhook-signature matches", ErrBad)
}

func mac(secret string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// anyMatch reports whether the MAC of parts under one of the secrets is
// sig, comparing in constant time.
func (v *Verifier) anyMatch(sig []byte, parts ...[]byte) bool {
	ok := false
	for _, s := range v.Secrets {
		if hmac.Equal(mac(s, parts...), sig) {
			ok = true
		}
	}
	return ok
}

// hmac checks a MAC of the body in the configured header.
func (v *Verifier) hmac(h http.Header, body []byte) error {
	val := strings.TrimSpace(h.Get(v.Header))
	if val == "" {
		return fmt.Errorf("%w: no %s header", ErrMissing, v.Header)
	}
	enc, ok := strings.CutPrefix(val, v.Prefix)
	if !ok {
		return fmt.Errorf("%w: %s does not start with %q", ErrBad, v.Header, v.Prefix)
	}
	var sig []byte
	var err error
	if v.Encoding == "hex" {
		sig, err = hex.DecodeString(enc)
	} else {
		sig, err = base64.StdEncoding.DecodeString(enc)
	}
	if err != nil || !v.anyMatch(sig, body) {
		return fmt.Errorf("%w: %s", ErrBad, v.Header)
	}
	return nil
}

// github checks X-Hub-Signature-256: "sha256=" and the hex HMAC-SHA256 of
// the body under the webhook's secret.
func (v *Verifier) github(h http.Header, body []byte) error {
	val := strings.TrimSpace(h.Get(HeaderGitHubSignature))
	if val == "" {
		return fmt.Errorf("%w: no %s header", ErrMissing, HeaderGitHubSignature)
	}
	enc, ok := strings.CutPrefix(val, "sha256=")
	sig, err := hex.DecodeString(enc)
	if !ok || err != nil || !v.anyMatch(sig, body) {
		return fmt.Errorf("%w: %s", ErrBad, HeaderGitHubSignature)
	}
	return nil
}

// stripe checks Stripe-Signature: "t=<unix>,v1=<hex>[,v1=...]", each v1
// the hex HMAC-SHA256 of "<t>.<body>" under the endpoint's secret; the
// timestamp must be within the tolerance.
func (v *Verifier) stripe(h http.Header, body []byte) error {
	val := h.Get(HeaderStripeSignature)
	if val == "" {
		return fmt.Errorf("%w: no %s header", ErrMissing, HeaderStripeSignature)
	}
	var ts string
	var sigs [][]byte
	for _, kv := range strings.Split(val, ",") {
		k, x, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = x
		case "v1":
			if sig, err := hex.DecodeString(x); err == nil && len(sig) == sha256.Size {
				sigs = append(sigs, sig)
			}
		}
	}
	if ts == "" || len(sigs) == 0 {
		return fmt.Errorf("%w: %s needs t= and at least one v1=", ErrMissing, HeaderStripeSignature)
	}
	if err := v.checkTime(ts); err != nil {
		return err
	}
	ok := false
	for _, sig := range sigs {
		if v.anyMatch(sig, []byte(ts), []byte{'.'}, body) {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%w: no v1 signature of %s matches", ErrBad, HeaderStripeSignature)
	}
	return nil
}
