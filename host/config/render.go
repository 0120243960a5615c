package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// ConfigText returns the plugin's configuration value for key in the form
// that the config_get host function gives it to the plugin: a string (and a
// Secret) as its text, any other TOML value as JSON. Dates and times keep
// their TOML form as JSON strings ("1979-05-27", "07:32:00",
// "1979-05-27T07:32:00Z"). The second result is false when key is not set.
func (p *Plugin) ConfigText(key string) (string, bool) {
	s, ok, _ := p.configText(key, false)
	return s, ok
}

// ConfigTextNow is ConfigText with a value of config_file read from its
// file again: what a new version of the plugin is loaded with.
func (p *Plugin) ConfigTextNow(key string) (string, bool, error) {
	return p.configText(key, true)
}

func (p *Plugin) configText(key string, reread bool) (string, bool, error) {
	v, ok := p.Config[key]
	if !ok {
		return "", false, nil
	}
	switch v := v.(type) {
	case string:
		return v, true, nil
	case Secret:
		if reread {
			fresh, err := v.Reread()
			if err != nil {
				return "", false, fmt.Errorf("config key %q: %w", key, err)
			}
			v = fresh
		}
		return v.Value(), true, nil
	}
	b, err := renderJSON(v)
	if err != nil { // Parse refuses such values; a Config built in code may hold them
		return "", false, nil
	}
	return string(b), true, nil
}

// renderJSON encodes a decoded TOML value as JSON.
func renderJSON(v any) ([]byte, error) {
	j, err := jsonValue(v)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkRenderable reports a TOML value that JSON cannot carry (nan, inf).
func checkRenderable(v any) error {
	if _, err := jsonValue(v); err != nil {
		return newProblem(ErrInvalid, "%v", err)
	}
	return nil
}

// Layouts of the TOML local date and time types, which the TOML library
// decodes as time.Time values in locations of these names.
var localLayouts = map[string]string{
	"datetime-local": "2006-01-02T15:04:05.999999999",
	"date-local":     "2006-01-02",
	"time-local":     "15:04:05.999999999",
}

// jsonValue converts a decoded TOML value into one that encoding/json renders
// as intended.
func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%v cannot be given to a plugin: JSON has no such number", v)
		}
		return v, nil
	case time.Time:
		if layout, ok := localLayouts[v.Location().String()]; ok {
			return v.Format(layout), nil
		}
		return v.Format(time.RFC3339Nano), nil
	case Secret:
		return v.Value(), nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			j, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = j
		}
		return out, nil
	case []map[string]any:
		out := make([]any, len(v))
		for i, e := range v {
			j, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = j
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			j, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = j
		}
		return out, nil
	default:
		return v, nil
	}
}
