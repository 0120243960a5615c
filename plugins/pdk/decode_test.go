package pdk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/plugins/pdk/internal/envelope"
	"github.com/evhost/evhost/plugins/pdk/internal/hostabi"
)

func TestDecodeKeys(t *testing.T) {
	keys := map[string][2]uint64{
		AttrID:              {keyID, keyIDHi},
		AttrSource:          {keySource, keySourceHi},
		AttrType:            {keyType, keyTypeHi},
		AttrSpecVersion:     {keySpecVersion, keySpecVersionHi},
		AttrTime:            {keyTime, keyTimeHi},
		AttrSubject:         {keySubject, keySubjectHi},
		AttrDataContentType: {keyDataContentType, keyDataContentTypeHi},
		AttrDataSchema:      {keyDataSchema, keyDataSchemaHi},
	}
	for name, k := range keys {
		var buf [16]byte
		buf[0] = byte(len(name))
		copy(buf[1:], name)
		want := [2]uint64{binary.LittleEndian.Uint64(buf[:8]), binary.LittleEndian.Uint64(buf[8:])}
		if k != want {
			t.Errorf("key of %q = %#x, want %#x", name, k, want)
		}
	}
	if hostabi.Padding != envelopePadding {
		t.Errorf("hostabi.Padding = %d, pdk's envelopePadding = %d", hostabi.Padding, envelopePadding)
	}
}

// Envelopes in the host's order take the fast path, whatever attributes
// they leave out and however short they are; others decode the same
// through the slow path.
func TestDecodeFastPath(t *testing.T) {
	rest := 0
	testDecodeRest = func() { rest++ }
	defer func() { testDecodeRest = nil }()

	full := testEvent()
	full.Extensions = nil
	events := []*Event{full, {}, {Type: "t"}, {Type: "t", Data: []byte{0}}, {ID: "x", Subject: "s", Data: []byte("d")}}
	for i := range 8 { // each context attribute alone
		e := &Event{}
		setContext(e, i, "v")
		events = append(events, e)
	}
	for _, e := range events {
		rest = 0
		var got Event
		if err := decode(&got, padded(e)); err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
		if rest != 0 {
			t.Errorf("%+v took the slow path", e)
		}
		checkDecoded(t, &got, e)
	}

	// Out of order, with extensions, or without the spare capacity: the
	// slow path, same result.
	env := bytes.Join([][]byte{attr("type", "t"), attr("id", "1"), attr("depth", "2"), {0}, []byte("data")}, nil)
	rest = 0
	var got Event
	if err := decode(&got, slices.Grow(env, envelopePadding)); err != nil {
		t.Fatal(err)
	}
	checkDecoded(t, &got, &Event{ID: "1", Type: "t", Extensions: map[string]string{"depth": "2"}, Data: []byte("data")})
	b, _ := full.MarshalBinary()
	if err := decode(&got, b[:len(b):len(b)]); err != nil {
		t.Fatal(err)
	}
	checkDecoded(t, &got, full)
	if rest != 2 {
		t.Errorf("slow path taken %d times, want 2", rest)
	}
}

func setContext(e *Event, i int, v string) {
	*[]*string{&e.ID, &e.Source, &e.Type, &e.SpecVersion, &e.rawTime, &e.Subject, &e.DataContentType, &e.DataSchema}[i] = v
}

func checkDecoded(t *testing.T, got, want *Event) {
	t.Helper()
	g, w := *got, *want
	if len(g.Extensions) == 0 && len(w.Extensions) == 0 {
		g.Extensions, w.Extensions = nil, nil
	}
	if len(g.Data) == 0 && len(w.Data) == 0 {
		g.Data, w.Data = nil, nil
	}
	if g.ID != w.ID || g.Source != w.Source || g.Type != w.Type || g.SpecVersion != w.SpecVersion ||
		g.rawTime != w.rawTime || g.Subject != w.Subject || g.DataContentType != w.DataContentType ||
		g.DataSchema != w.DataSchema || !maps.Equal(g.Extensions, w.Extensions) || !bytes.Equal(g.Data, w.Data) {
		t.Errorf("decoded\n %+v\nwant\n %+v", g, w)
	}
}

func TestEventTime(t *testing.T) {
	var e Event
	if !e.Time().IsZero() {
		t.Error("no time is not the zero Time")
	}
	want := time.Date(2026, 11, 25, 10, 0, 0, 120, time.FixedZone("", 3600))
	e.SetTime(want)
	if got := e.Time(); !got.Equal(want) {
		t.Errorf("Time() = %v, want %v", got, want)
	}
	if v, _ := e.Attr(AttrTime); v != "2026-11-25T10:00:00.00000012+01:00" {
		t.Errorf("Attr(time) = %q", v)
	}
	e.SetTime(time.Time{})
	if _, ok := e.Attr(AttrTime); ok {
		t.Error("SetTime(zero) left the attribute")
	}
	e.rawTime = "not a time" // the host never sends one
	if !e.Time().IsZero() {
		t.Error("a bad time is not the zero Time")
	}
}

// FuzzDecode checks the per-event decoder on any input: no panic, and the
// same result as the envelope codec wherever that accepts the input (the
// decoder does not check UTF-8: it trusts the host).
func FuzzDecode(f *testing.F) {
	b, _ := testEvent().MarshalBinary()
	f.Add(b)
	f.Add([]byte{0})
	f.Add(b[:len(b)-30])
	f.Add(bytes.Join([][]byte{attr("id", "1"), attr("type", "a"), attr("type", "b"), {0}}, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		var e Event
		err := decode(&e, slices.Grow(slices.Clone(in), envelopePadding))
		var slow Event
		errSlow := decode(&slow, in[:len(in):len(in)])
		if (err == nil) != (errSlow == nil) {
			t.Fatalf("fast path: %v, slow path: %v", err, errSlow)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
		} else {
			checkDecoded(t, &slow, &e)
		}
		fields, data, refErr := envelope.Decode(in)
		if refErr != nil {
			if err == nil && !strings.Contains(refErr.Error(), "UTF-8") && !strings.Contains(refErr.Error(), envelope.MultiValuedPrefix) {
				t.Fatalf("decoded what the codec rejects: %v", refErr)
			}
			return
		}
		for _, f := range fields {
			if strings.HasPrefix(f.Name, envelope.MultiValuedPrefix) {
				return // may repeat in HTTP messages, not in events
			}
		}
		if err != nil {
			t.Fatalf("rejected what the codec accepts: %v", err)
		}
		want := Event{Data: data}
		for _, f := range fields {
			if i := slices.Index(contextNames, f.Name); i >= 0 {
				setContext(&want, i, f.Value)
			} else {
				if want.Extensions == nil {
					want.Extensions = map[string]string{}
				}
				want.Extensions[f.Name] = f.Value
			}
		}
		checkDecoded(t, &e, &want)
	})
}

var contextNames = []string{AttrID, AttrSource, AttrType, AttrSpecVersion, AttrTime, AttrSubject, AttrDataContentType, AttrDataSchema}
