package host_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// text returns what the buffer holds.
func (s *syncBuffer) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A webhook URL's query string (a receiver's token) is shown redacted in
// GET /v1/webhooks, in the reason of a failed delivery (the status, the
// trace, the status page's source of data) and in the log.
func TestWebhookURLSecretsRedacted(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, base := serveConfigLog(t, `allow_networks = ["127.0.0.1/32"]`, `
[[webhooks]]
name = "crm"
events = ["order.*"]
url = "http://127.0.0.1:1/in?token=s3cret-in-query&v=2"
secret = "`+hookSecret+`"
max_attempts = 1
`, nil, log)

	a := send(t, nil, http.MethodGet, base+"/v1/webhooks", "")
	if a.status != http.StatusOK || strings.Contains(a.body, "s3cret") || !strings.Contains(a.body, "token=redacted") {
		t.Errorf("GET /v1/webhooks: %d %s", a.status, a.body)
	}
	if a := send(t, nil, http.MethodPost, base+"/v1/events/order.placed", `{}`, "ce-id", "e1"); a.status != http.StatusAccepted {
		t.Fatalf("publish: %d %s", a.status, a.body)
	}
	// The delivery fails (nothing listens on port 1); wait for its record.
	deadline := time.Now().Add(15 * time.Second)
	var status string
	for {
		status = send(t, nil, http.MethodGet, base+"/v1/status", "").body
		var st struct {
			RecentRuns []struct{ Subscription, Reason string } `json:"recent_runs"`
		}
		if err := json.Unmarshal([]byte(status), &st); err != nil {
			t.Fatal(err)
		}
		if len(st.RecentRuns) > 0 && st.RecentRuns[0].Reason != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed delivery recorded: %s", status)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, bounded by the deadline
	}
	trace := send(t, nil, http.MethodGet, base+"/v1/events/e1/trace", "").body
	dlq := send(t, nil, http.MethodGet, base+"/v1/admin/dlq", "").body
	for what, text := range map[string]string{"status": status, "trace": trace, "dead letters": dlq, "log": logs.text()} {
		if strings.Contains(text, "s3cret") {
			t.Errorf("the %s shows the URL's secret:\n%s", what, text)
		}
	}
	if !strings.Contains(status, "token=redacted") {
		t.Errorf("the status does not name the URL (redacted) in the reason: %s", status)
	}
}
