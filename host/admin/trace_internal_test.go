package admin

import "testing"

// The HTTP status of a webhook attempt comes from its record's reason.
func TestHTTPStatusOf(t *testing.T) {
	for reason, want := range map[string]int{
		"HTTP 200":                     200,
		"HTTP 503: busy":               503,
		"HTTP 410 Gone":                410,
		"":                             0,
		"timeout after 10s":            0,
		"HTTP ":                        0,
		"HTTP 42":                      0,
		"HTTP 99999":                   0,
		"dial: HTTP 500 is not a code": 0,
	} {
		if got := httpStatusOf(reason); got != want {
			t.Errorf("httpStatusOf(%q) = %d, want %d", reason, got, want)
		}
	}
}
