package event_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
)

func sample() *event.Event {
	return &event.Event{
		ID: "42", Source: "/orders", Type: "order.placed", SpecVersion: "1.0",
		Time:            time.Date(2026, 11, 25, 9, 30, 0, 123000000, time.UTC),
		Subject:         "order/42",
		DataContentType: "application/json",
		Extensions:      []event.Attr{{Name: "correlationid", Value: "c-1"}, {Name: "depth", Value: "2"}},
		Data:            []byte(`{"id":42}`),
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	e := sample()
	b := event.AppendEnvelope(nil, e)
	if len(b) != event.EnvelopeSize(e) {
		t.Fatalf("EnvelopeSize = %d, encoded %d bytes", event.EnvelopeSize(e), len(b))
	}
	got, err := event.DecodeEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.Source != e.Source || got.Type != e.Type || got.SpecVersion != e.SpecVersion ||
		!got.Time.Equal(e.Time) || got.Subject != e.Subject || got.DataContentType != e.DataContentType ||
		!bytes.Equal(got.Data, e.Data) || len(got.Extensions) != 2 || got.Extensions[1] != e.Extensions[1] {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
	}
	b[len(b)-1] = 'X' // the decoded event must not alias the input
	if got.Data[len(got.Data)-1] != '}' {
		t.Fatal("decoded data aliases the envelope")
	}
}

func TestEnvelopeNoData(t *testing.T) {
	e := &event.Event{ID: "1", Source: "s", Type: "t", SpecVersion: "1.0"}
	got, err := event.DecodeEnvelope(event.AppendEnvelope(nil, e))
	if err != nil || got.Data != nil {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestAppendEnvelopeDoesNotAllocate(t *testing.T) {
	e := sample()
	buf := make([]byte, 0, event.EnvelopeSize(e))
	allocs := testing.AllocsPerRun(100, func() {
		_ = event.EnvelopeSize(e)
		buf = event.AppendEnvelope(buf[:0], e)
	})
	if allocs != 0 {
		t.Fatalf("EnvelopeSize+AppendEnvelope allocate %v times per event", allocs)
	}
}

func TestDecodeEnvelopeMalformed(t *testing.T) {
	attr := func(name, value string) []byte { return event.AppendAttr(nil, name, value) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for name, b := range map[string][]byte{
		"empty":          {},
		"no terminator":  attr("type", "x"),
		"truncated name": {5, 't', 'y'},
		"value too long": cat([]byte{4}, []byte("type"), []byte{0xff, 0, 0, 0}, []byte("x")),
		"duplicate":      cat(attr("type", "a"), attr("type", "b"), []byte{0}),
		"bad utf8 value": cat(attr("type", "\xff"), []byte{0}),
		"bad utf8 name":  cat(attr("\xfe", "v"), []byte{0}),
		"bad time":       cat(attr("time", "yesterday"), []byte{0}),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := event.DecodeEnvelope(b); !errors.Is(err, event.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestWalkEnvelopeManyNamesStaysLinear(t *testing.T) {
	var b []byte
	for i := 0; i < 5000; i++ {
		b = event.AppendAttr(b, "x"+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676)), "v")
	}
	b = append(b, 0)
	if _, err := event.WalkEnvelope(b, nil); err != nil {
		t.Fatal(err)
	}
	b = append(b[:len(b)-1], event.AppendAttr(nil, "xaaa", "dup")...)
	b = append(b, 0)
	if _, err := event.WalkEnvelope(b, nil); !errors.Is(err, event.ErrMalformed) {
		t.Fatalf("duplicate past the inline set: err = %v", err)
	}
}

func TestHeadersMayRepeat(t *testing.T) {
	b := event.AppendAttr(nil, "header.accept", "a")
	b = event.AppendAttr(b, "header.accept", "b")
	b = append(b, 0, 'd')
	n := 0
	data, err := event.WalkEnvelope(b, func(name, value []byte) error { n++; return nil })
	if err != nil || n != 2 || string(data) != "d" {
		t.Fatalf("n=%d data=%q err=%v", n, data, err)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(event.AppendEnvelope(nil, sample()))
	f.Add([]byte{0})
	f.Add([]byte{4, 't', 'y', 'p', 'e', 1, 0, 0, 0, 'x', 0, 'd'})
	f.Add([]byte{255})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := event.DecodeEnvelope(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes to the same.
		again, err := event.DecodeEnvelope(event.AppendEnvelope(nil, e))
		if err != nil {
			t.Fatalf("re-encoding a decoded envelope: %v", err)
		}
		if again.ID != e.ID || again.Type != e.Type || !bytes.Equal(again.Data, e.Data) || len(again.Extensions) != len(e.Extensions) {
			t.Fatalf("round trip changed the event: %+v vs %+v", again, e)
		}
	})
}

func TestEnvelopeSizeMatchesForAnyTime(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 100, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.FixedZone("x", 5*3600+1800)),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("y", -3600)),
		time.Date(12345, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(-5, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Now(),
	} {
		e := &event.Event{ID: "1", Time: tm}
		if got, want := event.EnvelopeSize(e), len(event.AppendEnvelope(nil, e)); got != want {
			t.Errorf("%v: EnvelopeSize %d, encoded %d", tm, got, want)
		}
	}
}

func TestAppendTimeMatchesTheStandardLibrary(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(9, 10, 11, 12, 13, 14, 100, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.FixedZone("x", 3600)),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("UTC0", 0)),
		time.Now().UTC(),
		time.Now(),
	} {
		e := &event.Event{Time: tm}
		got, err := event.DecodeEnvelope(event.AppendEnvelope(nil, e))
		if err != nil {
			t.Fatal(err)
		}
		b := event.AppendEnvelope(nil, e)
		if want := tm.Format(event.TimeFormat); !bytes.Contains(b, []byte(want)) || !got.Time.Equal(tm) {
			t.Errorf("%v: envelope %q lacks %q", tm, b, want)
		}
	}
}
