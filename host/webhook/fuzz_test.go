package webhook

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzRetryAfter feeds the Retry-After parser a receiver's header value
// and a clock. Properties: it never panics; a delay it returns is positive
// and at most MaxRetryAfter; delay-seconds give that many seconds (capped),
// an HTTP date the time until it (capped), and nothing else gives a delay;
// surrounding whitespace changes nothing. Seeds are in
// testdata/fuzz/FuzzRetryAfter.
func FuzzRetryAfter(f *testing.F) {
	f.Add("120", int64(1700000000))
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT", int64(1445412000))
	f.Add("-1", int64(0))
	f.Add("99999999999999999999", int64(0))
	f.Fuzz(func(t *testing.T, v string, unix int64) {
		now := time.Unix(unix%(1<<40), 0).UTC()
		d, ok := retryAfter(v, now)
		if !ok {
			if d != 0 {
				t.Fatalf("no delay but %v", d)
			}
		} else if d <= 0 || d > MaxRetryAfter {
			t.Fatalf("delay %v out of (0, %v]", d, MaxRetryAfter)
		}
		if d2, ok2 := retryAfter(" \t"+v+" ", now); d2 != d || ok2 != ok {
			t.Fatalf("whitespace changed the answer: %v %v, then %v %v", d, ok, d2, ok2)
		}
		s := strings.TrimSpace(v)
		if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
			want := time.Duration(min(max(secs, 0), int64(MaxRetryAfter/time.Second))) * time.Second
			if ok != (secs > 0) || d != want && ok {
				t.Fatalf("%q seconds: %v %v, want %v", s, d, ok, want)
			}
			return
		}
		if at, err := http.ParseTime(s); err == nil {
			want := min(at.Sub(now), MaxRetryAfter)
			if ok != (want > 0) || (ok && d != want) {
				t.Fatalf("date %q at %v: %v %v, want %v", s, now, d, ok, want)
			}
			return
		}
		if ok {
			t.Fatalf("%q is neither seconds nor an HTTP date, and gave %v", v, d)
		}
	})
}
