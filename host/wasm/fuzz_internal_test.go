package wasm

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
)

// The decoders of bytes a guest controls: an emitted envelope, an
// http_request message and a command module's stdout. Each fuzz target
// checks that the decoder never panics, that what it keeps is no larger
// than what it was given (a length the guest declares is never allocated
// before it is checked), and, where an encoding exists, that encoding what
// was decoded and decoding it again gives the same value. Seeds are in
// testdata/fuzz/<target>, written by TestWriteGuestFuzzSeeds.

// allocSlack is what a decode may allocate beyond a multiple of its input:
// fixed costs (an event, a map) and noise from the fuzzing machinery.
const allocSlack = 64 << 10

// allocated returns the bytes allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func FuzzDecodeEmit(f *testing.F) {
	for _, s := range emitSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var e *event.Event
		var err error
		if n := allocated(func() { e, err = decodeEmit(b) }); n > 8*uint64(len(b))+allocSlack {
			t.Fatalf("decoding %d bytes allocated %d", len(b), n)
		}
		if err != nil {
			if e != nil {
				t.Fatal("an event with an error")
			}
			return
		}
		if kept := eventBytes(e); kept > len(b) {
			t.Fatalf("kept %d bytes from %d", kept, len(b))
		}
		if e.Source != "" || e.SpecVersion != "" || !e.Time.IsZero() {
			t.Fatalf("host-owned attributes read from the guest: %+v", e)
		}
		for _, a := range e.Extensions {
			switch a.Name {
			case event.ExtCausationID, event.ExtCorrelationID, event.ExtDepth, event.ExtTraceParent:
				t.Fatalf("host-owned extension %q read from the guest", a.Name)
			}
		}
		again, err := decodeEmit(event.AppendEnvelope(nil, e))
		if err != nil {
			t.Fatalf("re-encoded emit does not decode: %v", err)
		}
		if !reflect.DeepEqual(e, again) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, e)
		}
	})
}

// eventBytes adds up the bytes of an event's strings and data.
func eventBytes(e *event.Event) int {
	n := len(e.ID) + len(e.Source) + len(e.Type) + len(e.SpecVersion) + len(e.Subject) +
		len(e.DataContentType) + len(e.DataSchema) + len(e.Data)
	for _, a := range e.Extensions {
		n += len(a.Name) + len(a.Value)
	}
	return n
}

func FuzzDecodeHTTPRequest(f *testing.F) {
	for _, s := range httpSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req *HTTPRequest
		var err error
		if n := allocated(func() { req, err = decodeHTTPRequest(b) }); n > 32*uint64(len(b))+allocSlack {
			t.Fatalf("decoding %d bytes allocated %d", len(b), n)
		}
		if err != nil {
			if req != nil {
				t.Fatal("a request with an error")
			}
			return
		}
		kept := len(req.Method) + len(req.URL) + len(req.Body)
		for k, vs := range req.Header {
			kept += len(k)
			for _, v := range vs {
				kept += len(v)
			}
		}
		if kept > len(b)+len("GET") { // the default method
			t.Fatalf("kept %d bytes from %d", kept, len(b))
		}
		if req.URL == "" || req.Method == "" {
			t.Fatalf("decoded without a url or method: %+v", req)
		}
		again, err := decodeHTTPRequest(encodeHTTPRequest(req))
		if err != nil {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, req)
		}
	})
}

// encodeHTTPRequest is the guest's side of http_request: attributes
// method, url and header.<name> (names in order), then the body.
func encodeHTTPRequest(r *HTTPRequest) []byte {
	b := event.AppendAttr(nil, "method", r.Method)
	b = event.AppendAttr(b, "url", r.URL)
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			b = event.AppendAttr(b, "header."+k, v)
		}
	}
	b = append(b, 0)
	return append(b, r.Body...)
}

// fuzzLineCap is the stdout line cap of FuzzCommandOutput: small, so that
// inputs reach it.
const fuzzLineCap = 512

// FuzzCommandOutput writes a command module's stdout, in pieces of chunk
// bytes, through the line writer to the command-mode line decoder.
func FuzzCommandOutput(f *testing.F) {
	for _, s := range commandSeeds() {
		f.Add(s.out, s.chunk)
	}
	r := &Runtime{logger: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, out []byte, chunk uint16) {
		p := &Plugin{r: r, name: "fuzz", opts: PluginOptions{Name: "fuzz", MaxEmitBytes: 4 * fuzzLineCap, MaxEmits: 8}, c: &compiled{}}
		p.opts.setDefaults(r)
		in := &instance{p: p}
		in.begin(context.Background(), parentEvent(), 1)
		var lines [][]byte
		in.stdout = lineWriter{in: in, level: slog.LevelInfo, max: fuzzLineCap, capture: func(line []byte) {
			lines = append(lines, bytes.Clone(line))
			in.commandLine(line)
		}}
		step := int(chunk)%(2*fuzzLineCap) + 1
		for rest := out; len(rest) > 0; {
			n := min(step, len(rest))
			if k, err := in.stdout.Write(rest[:n]); k != n || err != nil {
				t.Fatalf("Write = %d, %v; want %d, nil", k, err, n)
			}
			if len(in.stdout.buf) > fuzzLineCap {
				t.Fatalf("buffered %d bytes, more than the line cap %d", len(in.stdout.buf), fuzzLineCap)
			}
			rest = rest[n:]
		}
		in.stdout.flush()

		// The lines are the output split at newlines, whatever the pieces,
		// up to the first line longer than the cap, which fails the call.
		want, tooLong := splitLines(out, fuzzLineCap)
		if !slices.EqualFunc(lines, want, bytes.Equal) {
			t.Fatalf("lines (pieces of %d):\n got %q\nwant %q", step, lines, want)
		}
		if tooLong != (in.reject != "" && strings.Contains(in.reject, "stdout line longer")) {
			t.Fatalf("line longer than the cap: %v; reject %q", tooLong, in.reject)
		}

		if len(in.emits) > p.opts.MaxEmits || in.emitted > p.opts.MaxEmitBytes {
			t.Fatalf("%d emits of %d bytes past the caps", len(in.emits), in.emitted)
		}
		kept := 0
		for _, e := range in.emits {
			if e.Type == "" || e.Source != p.opts.Source {
				t.Fatalf("emit without a type or with the guest's source: %+v", e)
			}
			kept += len(e.Data)
			// The event as it is published decodes to the same event.
			j := event.AppendJSON(nil, e)
			back, err := event.DecodeJSON(j)
			if err != nil {
				t.Fatalf("emitted event does not decode: %v\n%s", err, j)
			}
			if !sameEvent(e, back) {
				t.Fatalf("round trip:\n got %s\nwant %s", event.AppendJSON(nil, back), j)
			}
		}
		if kept > len(out) {
			t.Fatalf("emits hold %d bytes of data from %d bytes of output", kept, len(out))
		}
	})
}

// sameEvent compares two events attribute by attribute: extensions in any
// order (JSON members have none), times as instants.
func sameEvent(a, b *event.Event) bool {
	exts := func(e *event.Event) []event.Attr {
		x := slices.Clone(e.Extensions)
		slices.SortStableFunc(x, func(p, q event.Attr) int { return strings.Compare(p.Name, q.Name) })
		return x
	}
	return a.ID == b.ID && a.Source == b.Source && a.Type == b.Type && a.SpecVersion == b.SpecVersion &&
		a.Time.Equal(b.Time) && a.Subject == b.Subject && a.DataContentType == b.DataContentType &&
		a.DataSchema == b.DataSchema && bytes.Equal(a.Data, b.Data) && slices.Equal(exts(a), exts(b))
}

// splitLines is the reference for the command line writer: the lines of
// out (the last one without its newline, if not empty), each without
// trailing carriage returns, up to the first line longer than max.
func splitLines(out []byte, max int) (lines [][]byte, tooLong bool) {
	parts := bytes.Split(out, []byte("\n"))
	for i, l := range parts {
		if len(l) > max {
			return lines, true
		}
		if i == len(parts)-1 && len(l) == 0 {
			break
		}
		lines = append(lines, bytes.TrimRight(l, "\r"))
	}
	return lines, false
}

func parentEvent() *event.Event {
	return &event.Event{ID: "p-1", Source: "/fuzz", Type: "fuzz.in", SpecVersion: "1.0",
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func emitSeeds() [][]byte {
	attr := event.AppendAttr
	full := &event.Event{ID: "id-1", Type: "a.b", Subject: "s", DataContentType: "text/plain",
		DataSchema: "urn:x", Extensions: []event.Attr{{Name: "myext", Value: "v"}}, Data: []byte("data")}
	hugeLen := append(attr(nil, "type", "x")[:1+4], 0xff, 0xff, 0xff, 0xff)
	return [][]byte{
		{0},
		append(attr(nil, "type", "t"), 0),
		event.AppendEnvelope(nil, full),
		append(attr(attr(attr(nil, "type", "t"), "source", "bogus"), "depth", "999"), 0, 'd'),
		append(attr(attr(attr(nil, "type", "t"), "header.a", "1"), "header.a", "2"), 0),
		append(attr(attr(nil, "type", "t"), "type", "u"), 0),
		attr(nil, "type", "t"), // no terminator
		hugeLen,
		append(attr(nil, "type", "\xff\xfe"), 0),
		append(attr(nil, "Bad_Name!", "v"), 0),
	}
}

func httpSeeds() [][]byte {
	attr := event.AppendAttr
	req := &HTTPRequest{Method: "POST", URL: "https://api.example.com/x?q=1",
		Header: map[string][]string{"Content-Type": {"application/json"}, "X-Multi": {"a", "b"}}, Body: []byte(`{"k":1}`)}
	return [][]byte{
		encodeHTTPRequest(req),
		append(attr(nil, "url", "http://h/"), 0),
		append(attr(attr(nil, "url", "http://h/"), "header.content-type", "x"), 0, 'b'),
		append(attr(nil, "method", "GET"), 0), // no url
		append(attr(attr(nil, "url", "http://h/"), "bogus", "x"), 0),
		append(attr(nil, "url", "\xff"), 0),
		binary.LittleEndian.AppendUint32([]byte{3, 'u', 'r', 'l'}, 1<<31),
	}
}

type commandSeed struct {
	out   []byte
	chunk uint16
}

func commandSeeds() []commandSeed {
	ev := func(data string) string {
		return `{"specversion":"1.0","type":"cmd.out","source":"/t","id":"c1","data":` + strconv.Quote(data) + `}`
	}
	long := ev(strings.Repeat("a", 3*fuzzLineCap/2))
	return []commandSeed{
		{[]byte(ev("x") + "\n"), 1000},
		{[]byte("a log line\r\n" + ev("y") + "\nlast line without newline"), 7},
		{[]byte(ev(strings.Repeat("b", fuzzLineCap-100)) + "\n"), 64},
		{[]byte(long + "\n" + ev("after") + "\n"), 100},
		{[]byte(`{"type":"t","specversion":"1.0","data_base64":"AAEC"}` + "\n" + `{"type":"t","specversion":"1.0","data":{"k":[1,2]}}` + "\n"), 3},
		{[]byte(`{"type":"t","specversion":"1.0","Bad":"x"}` + "\n" + `{"type":1,"specversion":"1.0"}` + "\n{not json\n\n\n"), 1},
		{[]byte(`{"type":"t","specversion":"1.0","id":"same"}` + "\n" + `{"type":"t","specversion":"1.0","id":"same"}` + "\n"), 50},
	}
}

var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/Fuzz{DecodeEmit,DecodeHTTPRequest,CommandOutput} from the seeds in fuzz_internal_test.go")

// TestWriteGuestFuzzSeeds writes the seeds above as committed corpus files
// when run with -update-fuzz-seeds; this keeps the code that made them
// next to them.
func TestWriteGuestFuzzSeeds(t *testing.T) {
	if !*updateFuzzSeeds {
		t.Skip("run with -update-fuzz-seeds to rewrite the seed corpora")
	}
	write := func(target string, i int, values ...string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		data := "go test fuzz v1\n" + strings.Join(values, "\n") + "\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bytesValue := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	for i, s := range emitSeeds() {
		write("FuzzDecodeEmit", i, bytesValue(s))
	}
	for i, s := range httpSeeds() {
		write("FuzzDecodeHTTPRequest", i, bytesValue(s))
	}
	for i, s := range commandSeeds() {
		write("FuzzCommandOutput", i, bytesValue(s.out), fmt.Sprintf("uint16(%d)", s.chunk))
	}
}
