// Command receiver is a webhook receiver for the example: it verifies each
// request's Standard Webhooks signature with the official Go library,
// drops the duplicates of at-least-once delivery by webhook-id, prints the
// CloudEvent, and answers 204.
//
//	go run ./examples/webhooks/receiver -listen 127.0.0.1:9090
//
// -gone makes it answer 410 Gone (evhost then disables the endpoint), and
// -fail N answers 500 to the first N attempts of each event (evhost
// retries them).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// demoSecret is the secret of examples/webhooks/config.toml.
const demoSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func main() {
	listen := flag.String("listen", "127.0.0.1:9090", "address to listen on")
	secret := flag.String("secret", envOr("WEBHOOK_SECRET", demoSecret), "the whsec_ signing secret (default $WEBHOOK_SECRET, or the example's)")
	gone := flag.Bool("gone", false, "answer 410 Gone to every request")
	fail := flag.Int("fail", 0, "answer 500 to the first N attempts of each event")
	flag.Parse()
	h, err := newReceiver(*secret, *gone, *fail, os.Stdout)
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("POST /hooks/evhost", h)
	log.Printf("receiver: listening on http://%s/hooks/evhost", *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// receiver is the handler of POST /hooks/evhost.
type receiver struct {
	wh   *standardwebhooks.Webhook
	gone bool
	fail int
	out  io.Writer

	mu    sync.Mutex
	tries map[string]int  // attempts seen per webhook-id
	seen  map[string]bool // webhook-ids handled
}

func newReceiver(secret string, gone bool, fail int, out io.Writer) (*receiver, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("receiver: the secret: %w", err)
	}
	return &receiver{wh: wh, gone: gone, fail: fail, out: out, tries: map[string]int{}, seen: map[string]bool{}}, nil
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	// Verify checks the signature and that the timestamp is within five
	// minutes of now (replays of old requests are refused).
	if err := rc.wh.Verify(body, r.Header); err != nil {
		status := http.StatusUnauthorized
		if errors.Is(err, standardwebhooks.ErrRequiredHeaders) {
			status = http.StatusBadRequest
		}
		http.Error(w, err.Error(), status)
		return
	}
	if rc.gone {
		http.Error(w, "this endpoint is gone", http.StatusGone)
		return
	}
	id := r.Header.Get("webhook-id")
	rc.mu.Lock()
	rc.tries[id]++
	n, dup := rc.tries[id], rc.seen[id]
	if n > rc.fail {
		rc.seen[id] = true
	}
	rc.mu.Unlock()
	if n <= rc.fail {
		http.Error(w, fmt.Sprintf("failing attempt %d on purpose", n), http.StatusInternalServerError)
		return
	}
	if dup {
		w.WriteHeader(http.StatusNoContent) // already handled: acknowledge again, do nothing
		return
	}
	var ev struct {
		ID     string          `json:"id"`
		Type   string          `json:"type"`
		Source string          `json:"source"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "not a CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(rc.out, "%s %s from %s (attempt %d, tenant %s): %s\n", ev.Type, ev.ID, ev.Source, n, r.Header.Get("X-Tenant"), ev.Data)
	w.WriteHeader(http.StatusNoContent)
}
