package config

import "time"

// HTTPLimits are the keys of [host] that bound what one client of the
// HTTP API can hold: time to send a request, time to read the answer, an
// idle connection, the size of the headers, the events of one batch.
type HTTPLimits struct {
	// ReadHeaderTimeout bounds the time to send the request's headers
	// (key read_header_timeout, default "5s").
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time to send the whole request, body
	// included (key read_timeout, default "10s"): a client trickling a
	// body is cut off.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request's headers
	// to the end of the answer (key write_timeout, default "2m"); a
	// request that takes longer (a long replay) loses its answer.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request for
	// that long (key idle_timeout, default "10s").
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the request line and headers (key
	// max_header_bytes, default "64KiB"); beyond it: 431.
	MaxHeaderBytes Size
	// MaxBatch caps the events of one batch (key max_batch, default
	// 1000); beyond it: 413.
	MaxBatch int
}

// DefaultHTTPLimits returns the built-in HTTPLimits.
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       10 * time.Second,
		MaxHeaderBytes:    64 * KiB,
		MaxBatch:          1000,
	}
}

// httpLimits decodes the HTTPLimits keys of [host].
func (d *decoder) httpLimits(t *table, l *HTTPLimits) {
	t.duration("read_header_timeout", &l.ReadHeaderTimeout)
	t.duration("read_timeout", &l.ReadTimeout)
	t.duration("write_timeout", &l.WriteTimeout)
	t.duration("idle_timeout", &l.IdleTimeout)
	t.size("max_header_bytes", &l.MaxHeaderBytes)
	t.integer("max_batch", &l.MaxBatch)
}

// httpLimits validates the HTTPLimits of [host].
func (v *checker) httpLimits(l *HTTPLimits) {
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"read_header_timeout", l.ReadHeaderTimeout}, {"read_timeout", l.ReadTimeout},
		{"write_timeout", l.WriteTimeout}, {"idle_timeout", l.IdleTimeout},
	} {
		if d.val <= 0 {
			v.invalid("host."+d.key, "invalid %s %v: must be positive", d.key, d.val)
		}
	}
	if l.MaxHeaderBytes < 1*KiB || l.MaxHeaderBytes > 1*MiB {
		v.invalid("host.max_header_bytes", "invalid max_header_bytes %v: want from 1KiB to 1MiB", l.MaxHeaderBytes)
	}
	if l.MaxBatch < 1 {
		v.invalid("host.max_batch", "invalid max_batch %d: must be at least 1", l.MaxBatch)
	}
}
