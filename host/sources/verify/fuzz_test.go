package verify_test

import (
	"net/http"
	"testing"

	"github.com/evhost/evhost/host/sources/verify"
)

// FuzzVerify feeds arbitrary signature headers and bodies to every scheme:
// none may panic, and none may accept what no secret signed.
func FuzzVerify(f *testing.F) {
	f.Add("v1,AAAA", "1700000000", "msg_1", "t=1700000000,v1=00", "sha256=00", []byte(`{}`))
	f.Add("v1,", "", "", "t=,v1=,v1=zz", "sha256=", []byte(nil))
	f.Add("v2,abc v1,def", "-1", "x", ",,,=,t=99999999999999999999", "sha256=zz", []byte("x"))
	f.Fuzz(func(t *testing.T, swSig, swTS, swID, stripe, hub string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", swID)
		h.Set("webhook-timestamp", swTS)
		h.Set("webhook-signature", swSig)
		h.Set("Stripe-Signature", stripe)
		h.Set("X-Hub-Signature-256", hub)
		h.Set("X-Sig", hub)
		for _, v := range []verify.Verifier{
			{Scheme: verify.StandardWebhooks, Secrets: []string{swSecret}},
			{Scheme: verify.Stripe, Secrets: []string{stripeKey}},
			{Scheme: verify.GitHub, Secrets: []string{plainSecret}},
			{Scheme: verify.HMACSHA256, Secrets: []string{plainSecret}, Header: "X-Sig", Encoding: "base64", Prefix: "sha256="},
		} {
			v.Now = clock
			if err := v.Check(); err != nil {
				t.Fatal(err)
			}
			if v.Verify(h, body) == nil {
				t.Fatalf("%s accepted an unsigned request: %v %q", v.Scheme, h, body)
			}
		}
	})
}
