package host_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

const slowLimits = `read_header_timeout = "1s"
read_timeout = "1s"
idle_timeout = "1s"
max_header_bytes = "8KiB"
max_batch = 3
`

// closedWithin reports whether the server closes conn (or answers and
// closes) within d, reading whatever it sends.
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) (string, bool) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return string(b), false
	}
	return string(b), true
}

// A client that trickles its body, or stops sending its headers, or
// keeps an idle keep-alive connection, is cut off after the configured
// timeouts; a header block over max_header_bytes gets 431.
func TestSlowClientsCutOff(t *testing.T) {
	_, base := serveConfig(t, slowLimits, "", nil)
	addr := strings.TrimPrefix(base, "http://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	// A body of 100 bytes of which 10 come, and then nothing.
	c := dial()
	fmt.Fprintf(c, "POST /v1/events/order.placed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":12345")
	if got, ok := closedWithin(t, c, 10*time.Second); !ok {
		t.Errorf("a trickled body is still being read after 10s (read_timeout 1s); got %q", got)
	} else if strings.Contains(got, " 202 ") {
		t.Errorf("a truncated body was accepted: %q", got)
	}

	// Headers that never end.
	c = dial()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
	if got, ok := closedWithin(t, c, 10*time.Second); !ok {
		t.Errorf("unfinished headers still held after 10s (read_header_timeout 1s); got %q", got)
	}

	// A keep-alive connection, idle after one request.
	c = dial()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %v %v", res, err)
	}
	res.Body.Close()
	if _, ok := closedWithin(t, c, 10*time.Second); !ok {
		t.Error("an idle keep-alive connection is still open after 10s (idle_timeout 1s)")
	}

	// Too many headers.
	req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("16KiB of headers over max_header_bytes 8KiB: %v %v", res, err)
	} else {
		res.Body.Close()
	}
}

// A batch over max_batch is refused whole, with 413.
func TestMaxBatch(t *testing.T) {
	_, base := serveConfig(t, slowLimits, "", nil)
	batch := func(n int) string {
		var ev []string
		for i := range n {
			ev = append(ev, fmt.Sprintf(`{"specversion":"1.0","type":"a","source":"s","id":"%d"}`, i))
		}
		return "[" + strings.Join(ev, ",") + "]"
	}
	ct := []string{"Content-Type", "application/cloudevents-batch+json"}
	if a := send(t, nil, http.MethodPost, base+"/v1/events", batch(3), ct...); a.status != http.StatusAccepted {
		t.Errorf("a batch of 3: %d %s", a.status, a.body)
	}
	if a := send(t, nil, http.MethodPost, base+"/v1/events", batch(4), ct...); a.status != http.StatusRequestEntityTooLarge ||
		!strings.Contains(a.body, "4 events, more than the limit of 3") {
		t.Errorf("a batch of 4: %d %s", a.status, a.body)
	}
}
