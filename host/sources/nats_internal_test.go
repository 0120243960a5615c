package sources

import (
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func testReader(sp NATSSpec) *reader {
	if sp.MaxMessage == 0 {
		sp.MaxMessage = 1 << 20
	}
	if sp.Source == "" {
		sp.Source = "evhost://nats/t"
	}
	return &reader{spec: sp, st: &stats{kind: "nats"}, log: slog.New(slog.DiscardHandler)}
}

// Headers become extensions with valid names, within bounds; NATS's own
// headers and evhost's own extensions are not taken; the id is the
// Nats-Msg-Id, else the stream's sequence, the same on every redelivery.
func TestNATSMessageToEvent(t *testing.T) {
	r := testReader(NATSSpec{TypeFromSubject: true, TypePrefix: "ext."})
	hdr := nats.Header{}
	hdr.Set("X-Tenant-ID", "acme")
	hdr.Set("Nats-Expected-Stream", "S")
	hdr.Set("Causation-ID", "forged")
	hdr.Set("Type", "forged")
	hdr.Set("Big", strings.Repeat("v", maxExtValue+1))
	hdr.Set("Content-Type", "application/json")
	for i := range 40 {
		hdr.Set("H"+strconv.Itoa(i), "v")
	}
	meta := &jetstream.MsgMetadata{Stream: "ORDERS", Sequence: jetstream.SequencePair{Stream: 7}, Timestamp: time.Unix(1_700_000_000, 0)}
	ev, _, err := r.event("orders.created", hdr, []byte(`{}`), meta)
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "ORDERS-7" || ev.Type != "ext.orders.created" || !ev.Time.Equal(meta.Timestamp) || ev.DataContentType != "application/json" {
		t.Fatalf("event: %+v", ev)
	}
	if len(ev.Extensions) > maxExtensions {
		t.Errorf("%d extensions, more than %d", len(ev.Extensions), maxExtensions)
	}
	for _, a := range ev.Extensions {
		if a.Name == "causationid" || a.Name == "natsexpectedstream" || a.Name == "big" || a.Name == "type" || a.Name == "contenttype" {
			t.Errorf("extension %s taken from a header", a.Name)
		}
	}
	hdr.Set("Nats-Msg-Id", "order-1")
	if ev, _, _ := r.event("orders.created", hdr, nil, meta); ev.ID != "order-1" {
		t.Errorf("id %q, want the Nats-Msg-Id", ev.ID)
	}

	for _, c := range []struct {
		name    string
		sp      NATSSpec
		subject string
		data    []byte
		reason  string
	}{
		{"too large", NATSSpec{Type: "a", MaxMessage: 10}, "s", make([]byte, 11), ReasonTooLarge},
		{"subject not a type", NATSSpec{TypeFromSubject: true}, "$weird..subject", nil, ReasonInvalid},
	} {
		if _, reason, err := testReader(c.sp).event(c.subject, nil, c.data, nil); err == nil || reason != c.reason {
			t.Errorf("%s: %q %v, want %s", c.name, reason, err, c.reason)
		}
	}
}
