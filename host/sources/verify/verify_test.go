package verify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/evhost/evhost/host/sources/verify"
)

const (
	swSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	swOther     = "whsec_c2Vjb25kIHNlY3JldCBvZiAyNCBieXRlcw=="
	plainSecret = "It's a Secret to Everybody"
	stripeKey   = "whsec_test_secret_of_stripe_endpoint"
)

var now = time.Unix(1_700_000_000, 0)

func clock() time.Time { return now }

// standardHeaders signs body with the official Standard Webhooks library.
func standardHeaders(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return h
}

// githubHeaders signs body as GitHub documents it ("Validating webhook
// deliveries"): X-Hub-Signature-256 is "sha256=" and the hex digest of the
// HMAC-SHA256 of the payload under the webhook's secret.
func githubHeaders(secret string, body []byte) http.Header {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	h := http.Header{}
	h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	return h
}

// stripeHeaders signs body as Stripe documents it ("Verify the signature
// manually"): the signed payload is the timestamp, ".", and the body; v1
// is the hex HMAC-SHA256 of it under the endpoint's secret (its bytes as
// shown, whsec_ included); the header is "t=<timestamp>,v1=<signature>".
func stripeHeaders(secret string, ts time.Time, body []byte) http.Header {
	t := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(t + "." + string(body)))
	h := http.Header{}
	h.Set("Stripe-Signature", "t="+t+",v1="+hex.EncodeToString(m.Sum(nil))+",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39")
	return h
}

func TestAccepted(t *testing.T) {
	body := []byte(`{"type":"invoice.paid","id":"evt_1"}`)
	for _, c := range []struct {
		name string
		v    verify.Verifier
		h    http.Header
	}{
		{"standard-webhooks", verify.Verifier{Scheme: verify.StandardWebhooks, Secrets: []string{swSecret}},
			standardHeaders(t, swSecret, "msg_1", now, body)},
		{"standard-webhooks, the second of two secrets (rotation)", verify.Verifier{Scheme: verify.StandardWebhooks, Secrets: []string{swOther, swSecret}},
			standardHeaders(t, swSecret, "msg_1", now.Add(-4*time.Minute), body)},
		{"github", verify.Verifier{Scheme: verify.GitHub, Secrets: []string{plainSecret}}, githubHeaders(plainSecret, body)},
		{"stripe", verify.Verifier{Scheme: verify.Stripe, Secrets: []string{stripeKey}}, stripeHeaders(stripeKey, now, body)},
		{"hmac-sha256 hex with prefix", verify.Verifier{Scheme: verify.HMACSHA256, Secrets: []string{plainSecret}, Header: "X-Signature", Encoding: "hex", Prefix: "sha256="},
			http.Header{"X-Signature": {"sha256=" + hexMAC(plainSecret, body)}}},
		{"hmac-sha256 base64", verify.Verifier{Scheme: verify.HMACSHA256, Secrets: []string{plainSecret}, Header: "X-Shopify-Hmac-Sha256", Encoding: "base64"},
			http.Header{"X-Shopify-Hmac-Sha256": {b64MAC(plainSecret, body)}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.v.Now = clock
			if err := c.v.Check(); err != nil {
				t.Fatal(err)
			}
			if err := c.v.Verify(c.h, body); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
	// The documented example of GitHub: secret "It's a Secret to
	// Everybody", payload "Hello, World!".
	v := verify.Verifier{Scheme: verify.GitHub, Secrets: []string{plainSecret}}
	h := http.Header{"X-Hub-Signature-256": {"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}}
	if err := v.Verify(h, []byte("Hello, World!")); err != nil {
		t.Fatalf("GitHub's documented example refused: %v", err)
	}
}

func hexMAC(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func b64MAC(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Every kind of tampering is refused, with the error that says which.
func TestTamperingRefused(t *testing.T) {
	body := []byte(`{"type":"invoice.paid","id":"evt_1"}`)
	tampered := []byte(`{"type":"invoice.paid","id":"evt_2"}`)
	type tc struct {
		name string
		h    http.Header
		body []byte
		want error
	}
	edit := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	sw := standardHeaders(t, swSecret, "msg_1", now, body)
	gh := githubHeaders(plainSecret, body)
	st := stripeHeaders(stripeKey, now, body)
	schemes := map[string]struct {
		v     verify.Verifier
		cases []tc
	}{
		verify.StandardWebhooks: {verify.Verifier{Scheme: verify.StandardWebhooks, Secrets: []string{swSecret}}, []tc{
			{"body", sw, tampered, verify.ErrBad},
			{"timestamp", edit(sw, "webhook-timestamp", strconv.FormatInt(now.Unix()+1, 10)), body, verify.ErrBad},
			{"id", edit(sw, "webhook-id", "msg_2"), body, verify.ErrBad},
			{"signature", edit(sw, "webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32))), body, verify.ErrBad},
			{"wrong secret", standardHeaders(t, swOther, "msg_1", now, body), body, verify.ErrBad},
			{"missing signature", edit(sw, "webhook-signature", ""), body, verify.ErrMissing},
			{"missing timestamp", edit(sw, "webhook-timestamp", ""), body, verify.ErrMissing},
			{"old timestamp", standardHeaders(t, swSecret, "msg_1", now.Add(-6*time.Minute), body), body, verify.ErrTimestamp},
			{"future timestamp", standardHeaders(t, swSecret, "msg_1", now.Add(6*time.Minute), body), body, verify.ErrTimestamp},
		}},
		verify.GitHub: {verify.Verifier{Scheme: verify.GitHub, Secrets: []string{plainSecret}}, []tc{
			{"body", gh, tampered, verify.ErrBad},
			{"signature", edit(gh, "X-Hub-Signature-256", "sha256="+hexMAC(plainSecret, tampered)), body, verify.ErrBad},
			{"not hex", edit(gh, "X-Hub-Signature-256", "sha256=zz"), body, verify.ErrBad},
			{"sha1 form", edit(gh, "X-Hub-Signature-256", "sha1="+hexMAC(plainSecret, body)), body, verify.ErrBad},
			{"wrong secret", githubHeaders("another secret of 16+ bytes", body), body, verify.ErrBad},
			{"missing header", http.Header{}, body, verify.ErrMissing},
		}},
		verify.Stripe: {verify.Verifier{Scheme: verify.Stripe, Secrets: []string{stripeKey}}, []tc{
			{"body", st, tampered, verify.ErrBad},
			{"timestamp", edit(st, "Stripe-Signature", "t="+strconv.FormatInt(now.Unix()+1, 10)+",v1="+hexMAC(stripeKey, []byte(strconv.FormatInt(now.Unix(), 10)+"."+string(body)))), body, verify.ErrBad},
			{"signature", edit(st, "Stripe-Signature", "t="+strconv.FormatInt(now.Unix(), 10)+",v1="+hexMAC(stripeKey, body)), body, verify.ErrBad},
			{"wrong secret", stripeHeaders("whsec_another_endpoint_secret", now, body), body, verify.ErrBad},
			{"missing header", http.Header{}, body, verify.ErrMissing},
			{"no v1", edit(st, "Stripe-Signature", "t="+strconv.FormatInt(now.Unix(), 10)), body, verify.ErrMissing},
			{"old timestamp", stripeHeaders(stripeKey, now.Add(-301*time.Second), body), body, verify.ErrTimestamp},
		}},
		verify.HMACSHA256: {verify.Verifier{Scheme: verify.HMACSHA256, Secrets: []string{plainSecret}, Header: "X-Signature", Encoding: "hex", Prefix: "sha256="}, []tc{
			{"body", http.Header{"X-Signature": {"sha256=" + hexMAC(plainSecret, body)}}, tampered, verify.ErrBad},
			{"no prefix", http.Header{"X-Signature": {hexMAC(plainSecret, body)}}, body, verify.ErrBad},
			{"wrong secret", http.Header{"X-Signature": {"sha256=" + hexMAC("another secret of 16+ bytes", body)}}, body, verify.ErrBad},
			{"missing header", http.Header{}, body, verify.ErrMissing},
		}},
	}
	for scheme, s := range schemes {
		for _, c := range s.cases {
			t.Run(scheme+"/"+c.name, func(t *testing.T) {
				v := s.v
				v.Now = clock
				if err := v.Check(); err != nil {
					t.Fatal(err)
				}
				err := v.Verify(c.h, c.body)
				if !errors.Is(err, c.want) {
					t.Fatalf("got %v, want %v", err, c.want)
				}
			})
		}
	}
}

func TestCheckRefusesBadSettings(t *testing.T) {
	for _, v := range []verify.Verifier{
		{Scheme: "gitlab", Secrets: []string{plainSecret}},
		{Scheme: verify.GitHub},
		{Scheme: verify.StandardWebhooks, Secrets: []string{"whsec_short"}},
		{Scheme: verify.HMACSHA256, Secrets: []string{plainSecret}, Encoding: "hex"},
		{Scheme: verify.HMACSHA256, Secrets: []string{plainSecret}, Header: "X-Sig", Encoding: "base32"},
	} {
		if err := v.Check(); err == nil {
			t.Errorf("%+v: accepted", v.Scheme)
		} else if s := err.Error(); containsSecret(s) {
			t.Errorf("the error quotes a secret: %s", s)
		}
	}
}

func containsSecret(s string) bool {
	return strings.Contains(s, plainSecret) || strings.Contains(s, "whsec_short")
}
