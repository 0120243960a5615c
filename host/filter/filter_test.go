package filter_test

import (
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/filter"
)

func TestMatch(t *testing.T) {
	order := &event.Event{ID: "1", Source: "shop/eu", Type: "order.placed", Subject: "cart-7",
		Time: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC), DataContentType: "application/json",
		Data: []byte(`{"amount": 150, "items": [{"sku": "a"}, {"sku": "b"}], "customer": {"tier": "gold"}}`)}
	order.SetExt("region", "eu")
	small := &event.Event{ID: "2", Source: "pos/1", Type: "order.placed", Data: []byte(`{"amount": 20}`)}
	text := &event.Event{ID: "3", Source: "x", Type: "note", DataContentType: "text/plain", Data: []byte("hello")}
	for _, c := range []struct {
		expr string
		ev   *event.Event
		want bool
		err  string // a substring of the evaluation error, if any
	}{
		{`data.amount > 100 && source.startsWith("shop/")`, order, true, ""},
		{`data.amount > 100 && source.startsWith("shop/")`, small, false, ""},
		{`data.customer.tier == "gold"`, order, true, ""},
		{`size(data.items) == 2 && data.items.exists(i, i.sku == "b")`, order, true, ""},
		{`extensions.region == "eu"`, order, true, ""},
		{`"region" in extensions`, small, false, ""},
		{`subject == "cart-7" && type.endsWith(".placed")`, order, true, ""},
		{`time > timestamp("2026-01-01T00:00:00Z")`, order, true, ""},
		{`data == "hello"`, text, true, ""},
		{`has(data.amount) && data.amount > 10`, text, false, ""},
		{`has(data.discount) && data.discount > 0`, order, false, ""},
		{`data.discount > 0`, order, false, "no such key"},
	} {
		f, err := filter.Compile(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		got, err := f.Match(c.ev)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s on %s: error %v, want one with %q", c.expr, c.ev.ID, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s on %s: %v, %v; want %v", c.expr, c.ev.ID, got, err, c.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for expr, want := range map[string]string{
		``:                        "empty",
		`data.amount >`:           "1:14",
		`amount > 1`:              "undeclared reference to 'amount'",
		`source + 1`:              "found no matching overload",
		`source`:                  "type string, want bool",
		strings.Repeat("a", 5000): "over 4096",
	} {
		if _, err := filter.Compile(expr); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Compile(%.20q) = %v, want an error with %q", expr, err, want)
		}
	}
}

// An expression cannot run without bound over large data.
func TestCostLimit(t *testing.T) {
	f, err := filter.Compile(`data.all(x, data.all(y, data.all(z, x + y + z >= 0)))`)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("[")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("1")
	}
	b.WriteString("]")
	if _, err := f.Match(&event.Event{ID: "1", Source: "s", Type: "t", Data: []byte(b.String())}); err == nil || !strings.Contains(err.Error(), "cost") {
		t.Fatalf("Match = %v, want the cost limit", err)
	}
}
