package natsbus

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/evhost/evhost/host/event"
)

func TestFilters(t *testing.T) {
	cases := []struct {
		patterns []string
		want     []string
		exact    bool
	}{
		{[]string{"order.placed"}, []string{"order.placed"}, true},
		{[]string{"order.*", "order.placed"}, []string{"order.*"}, true},
		{[]string{"order.placed", "order.placed"}, []string{"order.placed"}, true},
		{[]string{"order.>", "order.*", "order.a.b"}, []string{"order.>"}, true},
		{[]string{">", "x"}, []string{">"}, true},
		{[]string{"payment.charged", "email.*"}, []string{"email.*", "payment.charged"}, true},
		{[]string{"order", "order.>"}, []string{"order", "order.>"}, true},
		{[]string{"order.*", "*.placed"}, []string{"*.*"}, false},
		{[]string{"a.>", "*.b"}, []string{"*.>"}, false},
		{[]string{"a.*.c", "a.b.*", "x"}, []string{"a.*.*", "x"}, false},
	}
	for _, tc := range cases {
		got, exact := filters("", tc.patterns)
		if !slices.Equal(got, tc.want) || exact != tc.exact {
			t.Errorf("filters(%q) = %q, %v; want %q, %v", tc.patterns, got, exact, tc.want, tc.exact)
		}
	}
}

// TestFiltersProperty checks on random patterns that the filters never
// overlap (JetStream refuses that), select every type the patterns
// select, and select nothing else when they say they are exact.
func TestFiltersProperty(t *testing.T) {
	toks := []string{"a", "b", "c", "*", ">"}
	r := rand.New(rand.NewPCG(1, 2))
	randPattern := func(wild bool) string {
		n := 1 + r.IntN(3)
		parts := make([]string, n)
		for i := range parts {
			k := len(toks)
			if !wild {
				k = 3
			}
			parts[i] = toks[r.IntN(k)]
			if parts[i] == ">" && i < n-1 {
				parts[i] = "*"
			}
		}
		return strings.Join(parts, ".")
	}
	for range 2000 {
		var patterns []string
		for range 1 + r.IntN(4) {
			patterns = append(patterns, randPattern(true))
		}
		fs, exact := filters("", patterns)
		for i := range fs {
			for j := i + 1; j < len(fs); j++ {
				if overlap(strings.Split(fs[i], "."), strings.Split(fs[j], ".")) {
					t.Fatalf("filters(%q) = %q: %q and %q overlap", patterns, fs, fs[i], fs[j])
				}
			}
		}
		var ps, fps []event.Pattern
		for _, p := range patterns {
			ps = append(ps, event.MustParsePattern(p))
		}
		for _, f := range fs {
			fps = append(fps, event.MustParsePattern(f))
		}
		for range 50 {
			typ := randPattern(false)
			in, out := event.MatchAny(ps, typ), event.MatchAny(fps, typ)
			if in && !out || exact && out && !in {
				t.Fatalf("filters(%q) = %q (exact %v): type %q selected by the patterns %v, by the filters %v",
					patterns, fs, exact, typ, in, out)
			}
		}
	}
}

func TestSubConfigSelects(t *testing.T) {
	b := &Bus{eventsPrefix: "p.events.", redrivePrefix: "p.redrive."}
	c := &subConfig{
		patterns: []event.Pattern{event.MustParsePattern("new.*")},
		eras: []era{
			{Until: 10, compiled: []event.Pattern{event.MustParsePattern("old.a")}},
			{Until: 20, compiled: []event.Pattern{event.MustParsePattern("mid.a")}},
		},
		checked: true,
	}
	for _, tc := range []struct {
		subj string
		seq  uint64
		want bool
	}{
		{"p.events.old.a", 5, true},
		{"p.events.new.x", 5, false}, // published before new.* was selected
		{"p.events.old.a", 15, false},
		{"p.events.mid.a", 15, true},
		{"p.events.new.x", 25, true},
		{"p.events.mid.a", 25, false},
		{"p.redrive.s.anything", 1, true},
		{"q.events.new.x", 25, false},
	} {
		if got := c.selects(b, tc.subj, tc.seq); got != tc.want {
			t.Errorf("selects(%s, %d) = %v, want %v", tc.subj, tc.seq, got, tc.want)
		}
	}
}

func TestParseAckReply(t *testing.T) {
	for _, tc := range []struct {
		reply   string
		attempt int
		seq     uint64
		ok      bool
	}{
		{"$JS.ACK.evhost_events.pay.3.1042.17.1732530000000000000.5", 3, 1042, true},
		{"$JS.ACK.hub.ACCHASH.evhost_events.pay.2.77.9.1732530000000000000.0.xyz", 2, 77, true},
		{"$JS.ACK.evhost_events.pay.x.1042.17.1.5", 0, 0, false},
		{"_INBOX.abc", 0, 0, false},
		{"$JS.ACK.a.b.c", 0, 0, false},
	} {
		attempt, seq, ok := parseAckReply(tc.reply)
		if attempt != tc.attempt || seq != tc.seq || ok != tc.ok {
			t.Errorf("parseAckReply(%q) = %d, %d, %v; want %d, %d, %v", tc.reply, attempt, seq, ok, tc.attempt, tc.seq, tc.ok)
		}
	}
}
