package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// attr encodes one attribute by hand, independently of AppendAttr.
func attr(name, value string) []byte {
	b := []byte{byte(len(name))}
	b = append(b, name...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(value)))
	return append(b, value...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestRoundTrip(t *testing.T) {
	long := strings.Repeat("n", MaxNameLen)
	tests := []struct {
		name   string
		fields []Field
		data   []byte
	}{
		{"empty", nil, nil},
		{"data only", nil, []byte("payload\x00with zero")},
		{"one", []Field{{"type", "a.b"}}, nil},
		{"empty value", []Field{{"subject", ""}}, []byte{0}},
		{"utf-8", []Field{{"ünïcode", "värde ✓"}}, []byte("x")},
		{"longest name", []Field{{long, "v"}}, nil},
		{"repeated header", []Field{{"method", "GET"}, {"header.a", "1"}, {"header.a", "2"}}, []byte("body")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Append(nil, tt.fields, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			want := []byte{}
			for _, f := range tt.fields {
				want = append(want, attr(f.Name, f.Value)...)
			}
			want = cat(want, []byte{0}, tt.data)
			if !bytes.Equal(b, want) {
				t.Fatalf("Append = %x, want %x", b, want)
			}
			fields, data, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(fields) != len(tt.fields) {
				t.Fatalf("got %d fields, want %d", len(fields), len(tt.fields))
			}
			for i := range fields {
				if fields[i] != tt.fields[i] {
					t.Errorf("field %d = %q, want %q", i, fields[i], tt.fields[i])
				}
			}
			if !bytes.Equal(data, tt.data) || (len(tt.data) == 0) != (data == nil) {
				t.Errorf("data = %q, want %q (nil when empty)", data, tt.data)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	valueLen := func(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty input", nil, "missing 0x00 terminator"},
		{"no terminator", attr("type", "x"), "missing 0x00 terminator"},
		{"name truncated", []byte{5, 't', 'y'}, "truncated"},
		{"value_len truncated", cat([]byte{4}, []byte("type"), []byte{1, 0}), "truncated"},
		{"value_len past end", cat([]byte{4}, []byte("type"), valueLen(10), []byte("abc")), "runs past the end"},
		{"value_len huge", cat([]byte{4}, []byte("type"), valueLen(0xFFFFFFFF), []byte{0}), "runs past the end"},
		{"name not utf-8", cat(attr("\xff", "v"), []byte{0}), "name at byte 1 is not UTF-8"},
		{"value not utf-8", cat(attr("type", "\xc3\x28"), []byte{0}), `value of "type" is not UTF-8`},
		{"duplicate", cat(attr("type", "a"), attr("id", "1"), attr("type", "b"), []byte{0}), `"type" given twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Decode(tt.in)
			if err == nil {
				t.Fatal("Decode succeeded")
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrMalformed containing %q", err, tt.want)
			}
		})
	}
}

// A name_len of 0 is the terminator: what follows is data, even if it looks
// like attributes.
func TestNameLenZeroEndsAttributes(t *testing.T) {
	in := cat(attr("type", "a"), []byte{0}, attr("id", "1"))
	fields, data, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) != 1 || !bytes.Equal(data, attr("id", "1")) {
		t.Fatalf("fields %q, data %x", fields, data)
	}
}

func TestDuplicatesManyFields(t *testing.T) {
	var fields []Field
	for i := range 40 {
		fields = append(fields, Field{Name: "x" + strings.Repeat("y", i), Value: "v"})
	}
	fields = append(fields, Field{"header.h", "1"}, Field{"header.h", "2"})
	if err := CheckUnique(fields); err != nil {
		t.Fatalf("unique names: %v", err)
	}
	fields = append(fields, Field{Name: "xyy", Value: "again"})
	if err := CheckUnique(fields); err == nil || !strings.Contains(err.Error(), `"xyy" given twice`) {
		t.Fatalf("err = %v, want xyy given twice", err)
	}
}

func TestAppendBadName(t *testing.T) {
	for _, name := range []string{"", strings.Repeat("n", MaxNameLen+1), "\xff"} {
		if _, err := Append(nil, []Field{{name, "v"}}, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("Append(name %q) err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestScanNoAlloc(t *testing.T) {
	in := cat(attr("id", "1"), attr("type", "t"), attr("source", "/s"), []byte{0}, []byte("data"))
	buf := make([]Attr, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		attrs, start, err := Scan(buf, in)
		if err != nil || len(attrs) != 3 || string(in[start:]) != "data" {
			t.Fatal(attrs, start, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Scan allocates %v times", allocs)
	}
}

// FuzzDecodeEnvelope checks that Decode never panics, that what it accepts
// re-encodes to the same bytes, and that Scan agrees with it.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte{0})
	f.Add(cat(attr("id", "1"), attr("type", "t"), []byte{0}, []byte(`{"a":1}`)))
	f.Add(cat(attr("header.a", "1"), attr("header.a", "2"), []byte{0}))
	f.Fuzz(func(t *testing.T, in []byte) {
		fields, data, err := Decode(in)
		attrs, start, serr := Scan(nil, in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if serr == nil && !strings.Contains(err.Error(), "given twice") {
				t.Fatalf("Decode failed (%v) where Scan succeeded", err)
			}
			return
		}
		if serr != nil || len(attrs) != len(fields) || !bytes.Equal(in[start:], data) {
			t.Fatalf("Scan disagrees: %v, %d attrs, start %d", serr, len(attrs), start)
		}
		out, err := Append(nil, fields, data)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-encoded %x, want %x", out, in)
		}
	})
}
