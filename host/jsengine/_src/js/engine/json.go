package main

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/dop251/goja"
)

// parseJSON turns JSON text into JavaScript values directly, without
// goja's JSON.parse, which reads through encoding/json's token stream and
// allocates for each token (about half the cost of a small handler's call
// under wasm). Any error makes the caller fall back to JSON.parse, for
// its error message.
type jsonParser struct {
	vm  *goja.Runtime
	b   []byte
	i   int
	err error
}

var errJSON = errors.New("invalid JSON")

func parseJSON(vm *goja.Runtime, b []byte) (goja.Value, error) {
	p := &jsonParser{vm: vm, b: b}
	v := p.value()
	p.ws()
	if p.err == nil && p.i != len(b) {
		p.err = errJSON
	}
	return v, p.err
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) lit(s string, v goja.Value) goja.Value {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return v
	}
	p.err = errJSON
	return nil
}

func (p *jsonParser) value() goja.Value {
	p.ws()
	if p.err != nil || p.i >= len(p.b) {
		p.err = errJSON
		return nil
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		o := p.vm.NewObject()
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == '}' {
			p.i++
			return o
		}
		for p.err == nil {
			p.ws()
			if p.i >= len(p.b) || p.b[p.i] != '"' {
				p.err = errJSON
				return nil
			}
			k := p.str()
			p.ws()
			if p.err != nil || p.i >= len(p.b) || p.b[p.i] != ':' {
				p.err = errJSON
				return nil
			}
			p.i++
			v := p.value()
			if p.err != nil {
				return nil
			}
			o.Set(k, v)
			p.ws()
			if p.i < len(p.b) && p.b[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.b) && p.b[p.i] == '}' {
				p.i++
				return o
			}
			p.err = errJSON
		}
		return nil
	case c == '[':
		p.i++
		var items []any
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return p.vm.NewArray()
		}
		for p.err == nil {
			v := p.value()
			if p.err != nil {
				return nil
			}
			items = append(items, v)
			p.ws()
			if p.i < len(p.b) && p.b[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.b) && p.b[p.i] == ']' {
				p.i++
				return p.vm.NewArray(items...)
			}
			p.err = errJSON
		}
		return nil
	case c == '"':
		return p.vm.ToValue(p.str())
	case c == 't':
		return p.lit("true", p.vm.ToValue(true))
	case c == 'f':
		return p.lit("false", p.vm.ToValue(false))
	case c == 'n':
		return p.lit("null", goja.Null())
	case c == '-' || c >= '0' && c <= '9':
		start, isInt := p.i, true
		for p.i < len(p.b) {
			c := p.b[p.i]
			if c == '.' || c == 'e' || c == 'E' || c == '+' {
				isInt = false
			} else if !(c == '-' || c >= '0' && c <= '9') {
				break
			}
			p.i++
		}
		s := string(p.b[start:p.i])
		if !json.Valid(p.b[start:p.i]) {
			p.err = errJSON
			return nil
		}
		if isInt {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > -1<<53 && n < 1<<53 {
				return p.vm.ToValue(n)
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			p.err = errJSON
			return nil
		}
		return p.vm.ToValue(f)
	}
	p.err = errJSON
	return nil
}

// str reads a string at p.i (at its opening quote).
func (p *jsonParser) str() string {
	start := p.i
	p.i++
	escaped := false
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '\\':
			escaped = true
			p.i += 2
			continue
		case c < 0x20:
			p.err = errJSON
			return ""
		case c == '"':
			p.i++
			if !escaped {
				return string(p.b[start+1 : p.i-1])
			}
			var s string
			if err := json.Unmarshal(p.b[start:p.i], &s); err != nil {
				p.err = errJSON
			}
			return s
		}
		p.i++
	}
	p.err = errJSON
	return ""
}
