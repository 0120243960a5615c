// Package filter compiles and evaluates the filter expressions of
// subscriptions (the `filter` key of a plugin or webhook table): CEL
// expressions over an event's attributes and its JSON data, such as
// `data.amount > 100 && source.startsWith("shop/")`.
//
// It imports host/event and cel-go; it must not import host/config (which
// uses it to check filters) or anything that runs events.
package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/evhost/evhost/host/event"
)

// MaxLength caps the text of an expression.
const MaxLength = 4096

// costLimit bounds the work of one evaluation (CEL's cost units, about one
// per operation and per element visited): an expression cannot loop over a
// large data document without end.
const costLimit = 100_000

// The variables an expression sees.
const (
	varID              = "id"
	varSource          = "source"
	varType            = "type"
	varSubject         = "subject"
	varTime            = "time"
	varDataContentType = "datacontenttype"
	varDataSchema      = "dataschema"
	varData            = "data"
	varExtensions      = "extensions"
)

var env = mustEnv()

func mustEnv() *cel.Env {
	e, err := cel.NewEnv(
		cel.Variable(varID, cel.StringType),
		cel.Variable(varSource, cel.StringType),
		cel.Variable(varType, cel.StringType),
		cel.Variable(varSubject, cel.StringType),
		cel.Variable(varTime, cel.TimestampType),
		cel.Variable(varDataContentType, cel.StringType),
		cel.Variable(varDataSchema, cel.StringType),
		cel.Variable(varData, cel.DynType),
		cel.Variable(varExtensions, cel.MapType(cel.StringType, cel.StringType)),
	)
	if err != nil {
		panic(err)
	}
	return e
}

// Filter is a compiled expression. It is safe for concurrent use.
type Filter struct {
	text string
	prg  cel.Program
}

// Compile checks expr and compiles it. The expression must be of type
// bool; its variables are the event's attributes (id, source, type,
// subject, time, datacontenttype, dataschema), its data (data: the JSON
// value of JSON data, else its text) and its extension attributes
// (extensions, a map of strings). The error of a bad expression says where
// in it (CEL's line:column).
func Compile(expr string) (*Filter, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New("invalid filter: empty expression")
	}
	if len(expr) > MaxLength {
		return nil, fmt.Errorf("invalid filter: an expression of %d bytes, over %d", len(expr), MaxLength)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("invalid filter: %s", strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("invalid filter: the expression is of type %s, want bool", ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit))
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return &Filter{text: expr, prg: prg}, nil
}

// String returns the expression.
func (f *Filter) String() string { return f.text }

// Match reports whether ev passes the filter. An expression that cannot be
// evaluated for ev (a field its data lacks, data that is not JSON, a value
// of another type, the cost limit) is an error, and ev does not pass.
func (f *Filter) Match(ev *event.Event) (bool, error) {
	out, _, err := f.prg.Eval(activation(ev))
	if err != nil {
		return false, fmt.Errorf("filter: %w", err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("filter: the expression gave %v, not a bool", out)
	}
	return bool(b), nil
}

// activation binds the variables of ev, the data lazily: an expression
// that does not read it does not parse it.
func activation(ev *event.Event) map[string]any {
	exts := make(map[string]string, len(ev.Extensions))
	for _, a := range ev.Extensions {
		exts[a.Name] = a.Value
	}
	t := ev.Time
	if t.IsZero() {
		t = time.Unix(0, 0).UTC()
	}
	return map[string]any{
		varID: ev.ID, varSource: ev.Source, varType: ev.Type, varSubject: ev.Subject, varTime: t,
		varDataContentType: ev.DataContentType, varDataSchema: ev.DataSchema, varExtensions: exts,
		varData: func() any { return data(ev) },
	}
}

// data is the value data stands for: the JSON value of JSON data (or of
// data without a content type that parses as JSON), else its text.
func data(ev *event.Event) any {
	if len(ev.Data) == 0 {
		return nil
	}
	if ev.DataContentType == "" || event.IsJSONContentType(ev.DataContentType) {
		var v any
		if json.Unmarshal(ev.Data, &v) == nil {
			return v
		}
	}
	return string(ev.Data)
}
