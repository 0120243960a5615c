package event

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePatternErrors(t *testing.T) {
	tests := []struct {
		pattern string
		reason  string
	}{
		{"", "empty"},
		{".", "empty token"},
		{"order.", "empty token"},
		{".order", "empty token"},
		{"order..placed", "empty token"},
		{">.order", "'>' must be the last token"},
		{"order.>.placed", "'>' must be the last token"},
		{"order.pla*", "must be whole tokens"},
		{"order.>x", "must be whole tokens"},
		{"order placed", "whitespace"},
		{"order.\tplaced", "whitespace"},
		{"order.\x00", "control character"},
		{"order.\u00a0", "whitespace"},
		{"order.\xff", "not valid UTF-8"},
	}
	for _, tt := range tests {
		_, err := ParsePattern(tt.pattern)
		var pe *PatternError
		if !errors.As(err, &pe) {
			t.Errorf("ParsePattern(%q) = %v, want a *PatternError", tt.pattern, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.reason) || !strings.HasPrefix(err.Error(), "event: pattern ") {
			t.Errorf("ParsePattern(%q) = %q, want it to mention %q", tt.pattern, err, tt.reason)
		}
	}
}

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		yes     []string
		no      []string
	}{
		{"order.placed", []string{"order.placed"}, []string{"order", "order.placed.x", "order.place", "x.order.placed", ""}},
		{"order.*", []string{"order.placed", "order.x"}, []string{"order", "order.a.b", "payment.charged", "order.", "order..x", ""}},
		{"order.>", []string{"order.placed", "order.a.b", "order.a.b.c"}, []string{"order", "orders.x", "order.", "order.a.", "order..a", "order.a..b", ""}},
		{">", []string{"a", "a.b", "order.placed.x"}, []string{"", ".", "a.", ".a", "a..b"}},
		{"*", []string{"order", "x"}, []string{"order.placed", "", "."}},
		{"*.placed", []string{"order.placed", "x.placed"}, []string{"order.charged", "placed", "a.b.placed", ".placed"}},
		{"order.*.done", []string{"order.x.done"}, []string{"order.done", "order.x.y.done", "order.x.done.z"}},
		{"*.*.>", []string{"a.b.c", "a.b.c.d"}, []string{"a.b", "a", "a.b."}},
		{"é.*", []string{"é.ü"}, []string{"e.u"}},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tt.pattern, err)
		}
		if p.String() != tt.pattern {
			t.Errorf("String() = %q, want %q", p.String(), tt.pattern)
		}
		for _, typ := range tt.yes {
			if !p.Match(typ) {
				t.Errorf("%q should match %q", tt.pattern, typ)
			}
		}
		for _, typ := range tt.no {
			if p.Match(typ) {
				t.Errorf("%q should not match %q", tt.pattern, typ)
			}
		}
	}
}

func TestPatternLiteral(t *testing.T) {
	for s, want := range map[string]bool{"order.placed": true, "a": true, "order.*": false, "order.>": false, ">": false} {
		if got := MustParsePattern(s).Literal(); got != want {
			t.Errorf("%q.Literal() = %v, want %v", s, got, want)
		}
	}
}

func TestZeroPatternMatchesNothing(t *testing.T) {
	var p Pattern
	for _, typ := range []string{"", "a", "a.b"} {
		if p.Match(typ) {
			t.Errorf("zero Pattern matched %q", typ)
		}
	}
}

func TestMatchAny(t *testing.T) {
	ps := []Pattern{MustParsePattern("order.placed"), MustParsePattern("payment.>")}
	if !MatchAny(ps, "payment.charged.eu") || !MatchAny(ps, "order.placed") || MatchAny(ps, "email.sent") || MatchAny(nil, "a") {
		t.Error("MatchAny gave a wrong answer")
	}
}

func TestValidType(t *testing.T) {
	for _, ok := range []string{"order.placed", "a", "com.example.order-placed_v2", "x.y/z:w", "é.ü"} {
		if err := ValidType(ok); err != nil {
			t.Errorf("ValidType(%q) = %v, want nil", ok, err)
		}
	}
	for bad, reason := range map[string]string{
		"":              "empty",
		"order.":        "empty token",
		"order..placed": "empty token",
		".order":        "empty token",
		"order.*":       "wildcard",
		"order.>":       "wildcard",
		">":             "wildcard",
		"order.pl*ced":  "wildcard",
		"order placed":  "whitespace",
		"order.\n":      "control",
		"order.\x7f":    "control",
		"order.\u2028":  "whitespace",
		"order.\xc3":    "UTF-8",
	} {
		err := ValidType(bad)
		var te *TypeError
		if !errors.As(err, &te) || te.Type != bad || !strings.Contains(err.Error(), reason) {
			t.Errorf("ValidType(%q) = %v, want a *TypeError mentioning %q", bad, err, reason)
		}
	}
}

func TestPatternMatchDoesNotAllocate(t *testing.T) {
	ps := []Pattern{MustParsePattern("order.placed"), MustParsePattern("order.*"), MustParsePattern("order.>"), MustParsePattern("*.*.>")}
	allocs := testing.AllocsPerRun(100, func() {
		for _, p := range ps {
			p.Match("order.placed.eu")
			p.Match("order.placed")
		}
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per run, want 0", allocs)
	}
}

// refMatch is a plain reference implementation of NATS subject matching,
// where a type with an empty token matches nothing.
func refMatch(pattern, typ string) bool {
	pt, tt := strings.Split(pattern, "."), strings.Split(typ, ".")
	for _, tok := range tt {
		if tok == "" {
			return false
		}
	}
	for i, p := range pt {
		if p == ">" {
			return len(tt) > i
		}
		if i >= len(tt) || p != "*" && p != tt[i] {
			return false
		}
	}
	return len(tt) == len(pt)
}

func FuzzPatternMatch(f *testing.F) {
	f.Add("order.*", "order.placed")
	f.Add("order.>", "order.a.b")
	f.Add(">", "a")
	f.Add("*.x.>", "a.x.")
	f.Fuzz(func(t *testing.T, pattern, typ string) {
		p, err := ParsePattern(pattern)
		if err != nil {
			return
		}
		if got, want := p.Match(typ), refMatch(pattern, typ); got != want {
			t.Fatalf("%q.Match(%q) = %v, reference says %v", pattern, typ, got, want)
		}
	})
}

func BenchmarkPatternMatch(b *testing.B) {
	for _, bc := range []struct{ pattern, typ string }{
		{"order.placed", "order.placed"},
		{"order.*", "order.placed"},
		{"order.>", "order.placed.eu.north"},
		{"*.charged", "order.placed"},
	} {
		p := MustParsePattern(bc.pattern)
		b.Run(bc.pattern, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Match(bc.typ)
			}
		})
	}
}

func TestParsePatterns(t *testing.T) {
	pats, err := ParsePatterns([]string{"order.*", "user.created"})
	if err != nil || len(pats) != 2 || !MatchAny(pats, "order.placed") || MatchAny(pats, "user.deleted") {
		t.Fatalf("ParsePatterns: %v, %v", pats, err)
	}
	if _, err := ParsePatterns([]string{"order.*", "bad..type"}); err == nil {
		t.Fatal("ParsePatterns of an invalid pattern: no error")
	}
}
