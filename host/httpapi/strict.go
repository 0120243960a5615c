package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// strictJSON finds what encoding/json lets through but a producer cannot
// have meant: a key given twice in one object (which value wins differs
// between parsers, so a check and a consumer could see different events)
// and data after the value. It returns the JSON path of the fault (such as
// "type", "data.items[2].sku", "[1].id"; "" for trailing data) and a
// message, or ok when there is none. b must hold valid JSON up to any
// trailing data (the decoders have checked).
func strictJSON(b []byte) (path, msg string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if p, m, ok := walkValue(dec, ""); !ok {
		return p, m, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", "trailing data after the JSON value (at byte " + strconv.FormatInt(dec.InputOffset(), 10) + ")", false
	}
	return "", "", true
}

// walkValue reads one value from dec, checking every object in it.
func walkValue(dec *json.Decoder, path string) (string, string, bool) {
	tok, err := dec.Token()
	if err != nil {
		return path, "invalid JSON: " + err.Error(), false
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return path, "invalid JSON: " + err.Error(), false
			}
			key, _ := kt.(string)
			kp := key
			if path != "" {
				kp = path + "." + key
			}
			if seen[key] {
				return kp, "duplicate key " + strconv.Quote(key) + " in one object: give each key once", false
			}
			seen[key] = true
			if p, m, ok := walkValue(dec, kp); !ok {
				return p, m, false
			}
		}
		_, err = dec.Token() // '}'
		if err != nil {
			return path, "invalid JSON: " + err.Error(), false
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if p, m, ok := walkValue(dec, path+"["+strconv.Itoa(i)+"]"); !ok {
				return p, m, false
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return path, "invalid JSON: " + err.Error(), false
		}
	}
	return "", "", true
}
