package event

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Event types double as NATS subjects (the durable bus publishes each event
// on a subject made from its type), so a type is a dot-separated list of
// tokens and subscriptions select types with NATS-style patterns:
//
//	order.placed   exactly that type
//	order.*        "*" is exactly one token: order.placed, not order or order.a.b
//	order.>        ">" is one or more trailing tokens: order.a, order.a.b, not order
//	>              every type
//
// A token is a non-empty run of any characters but '.', whitespace, control
// characters, '*' and '>' (the wildcards are whole tokens of patterns, never
// parts of tokens), in valid UTF-8.

// TypeError reports an event type that cannot be used as a subject.
type TypeError struct {
	Type   string
	Reason string
}

func (e *TypeError) Error() string {
	return "event: type " + quote(e.Type) + ": " + e.Reason
}

// PatternError reports a pattern that ParsePattern refuses.
type PatternError struct {
	Pattern string
	Reason  string
}

func (e *PatternError) Error() string {
	return "event: pattern " + quote(e.Pattern) + ": " + e.Reason
}

// ValidType reports whether t can be the type of a published event: one or
// more dot-separated tokens, none empty, without wildcards, whitespace or
// control characters. The error is a *TypeError.
func ValidType(t string) error {
	if t == "" {
		return &TypeError{Type: t, Reason: "empty"}
	}
	start := 0
	for i := 0; i <= len(t); i++ {
		if i < len(t) && t[i] != '.' {
			continue
		}
		if reason := checkToken(t[start:i], false); reason != "" {
			return &TypeError{Type: t, Reason: reason}
		}
		start = i + 1
	}
	return nil
}

// checkToken returns why tok is not a valid token, or "". Wildcard tokens
// are accepted when wild is true.
func checkToken(tok string, wild bool) string {
	if tok == "" {
		return "empty token (a leading, trailing or double dot)"
	}
	if wild && (tok == "*" || tok == ">") {
		return ""
	}
	for i := 0; i < len(tok); {
		c := tok[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '*' || c == '>':
				if wild {
					return "'*' and '>' must be whole tokens, as in order.* or order.>"
				}
				return "contains a wildcard ('*' or '>'); patterns are not types"
			case c <= ' ' || c == 0x7f:
				return "contains whitespace or a control character"
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(tok[i:])
		if r == utf8.RuneError && n == 1 {
			return "not valid UTF-8"
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "contains whitespace or a control character"
		}
		i += n
	}
	return ""
}

// Pattern is a compiled subject pattern; see ParsePattern. The zero Pattern
// matches nothing. A Pattern is an immutable value, safe for concurrent use.
type Pattern struct {
	src string
	// toks are the tokens before a final ">": literals, or "*".
	toks []string
	// exact is true when src has no wildcard: Match compares whole strings.
	exact bool
	// tail is true when src ends with ">".
	tail bool
}

// ParsePattern compiles s, an event type or a NATS-style pattern: tokens
// separated by dots, none empty, "*" as a whole token for exactly one token,
// ">" as the whole last token for one or more tokens. The error is a
// *PatternError saying what is wrong.
func ParsePattern(s string) (Pattern, error) {
	if s == "" {
		return Pattern{}, &PatternError{Pattern: s, Reason: "empty"}
	}
	p := Pattern{src: s, exact: true}
	n := strings.Count(s, ".") + 1
	p.toks = make([]string, 0, n)
	for i, tok := range strings.Split(s, ".") {
		if reason := checkToken(tok, true); reason != "" {
			return Pattern{}, &PatternError{Pattern: s, Reason: reason}
		}
		switch tok {
		case ">":
			if i != n-1 {
				return Pattern{}, &PatternError{Pattern: s, Reason: "'>' must be the last token"}
			}
			p.tail, p.exact = true, false
			continue
		case "*":
			p.exact = false
		}
		p.toks = append(p.toks, tok)
	}
	if p.exact {
		p.toks = nil
	}
	return p, nil
}

// MustParsePattern is ParsePattern for patterns known to be valid, such as
// constants in tests; it panics on error.
func MustParsePattern(s string) Pattern {
	p, err := ParsePattern(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the pattern as it was written.
func (p Pattern) String() string { return p.src }

// Literal reports whether p has no wildcard, so that it matches exactly one
// type: p.String().
func (p Pattern) Literal() bool { return p.exact }

// Match reports whether eventType matches p. It does not allocate. A type
// with empty tokens (which ValidType refuses) never matches a wildcard.
func (p Pattern) Match(eventType string) bool {
	if p.exact {
		return eventType == p.src
	}
	if p.src == "" {
		return false
	}
	t := eventType
	for _, tok := range p.toks {
		if t == "" {
			// Every token of the type was consumed, or the type was empty.
			return false
		}
		var seg string
		if i := strings.IndexByte(t, '.'); i >= 0 {
			seg, t = t[:i], t[i:]
		} else {
			seg, t = t, ""
		}
		if seg == "" || tok != "*" && seg != tok {
			return false
		}
		if t != "" {
			t = t[1:] // the dot
			if t == "" {
				return false // a trailing dot: an empty last token
			}
		}
	}
	if p.tail {
		// One or more tokens remain, none of them empty.
		if t == "" {
			return false
		}
		return t[0] != '.' && t[len(t)-1] != '.' && !strings.Contains(t, "..")
	}
	return t == ""
}

// ParsePatterns parses each of ss with ParsePattern and returns the first
// error.
func ParsePatterns(ss []string) ([]Pattern, error) {
	pats := make([]Pattern, 0, len(ss))
	for _, s := range ss {
		p, err := ParsePattern(s)
		if err != nil {
			return nil, err
		}
		pats = append(pats, p)
	}
	return pats, nil
}

// MatchAny reports whether eventType matches one of patterns.
func MatchAny(patterns []Pattern, eventType string) bool {
	for i := range patterns {
		if patterns[i].Match(eventType) {
			return true
		}
	}
	return false
}
