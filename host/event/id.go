package event

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// NewID returns a random UUID (version 4, RFC 9562) from crypto/rand: the
// id the host stamps on an event whose producer gave none.
func NewID() string {
	var u [16]byte
	rand.Read(u[:]) // never fails (the program crashes if it could)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(&u)
}

// formatUUID renders u in the canonical 8-4-4-4-12 hex form.
func formatUUID(u *[16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

// Stamp fills in the attributes a producer may leave out: id (a random
// UUID), source, time (now, in UTC) and specversion. Attributes already
// set are kept. A valid delay extension becomes deliverat (ResolveDelay);
// an invalid one is left for the bus to refuse.
func Stamp(e *Event, source string, now time.Time) {
	_ = ResolveDelay(e, now)
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.Source == "" {
		e.Source = source
	}
	if e.Time.IsZero() {
		e.Time = now.UTC()
	}
	if e.SpecVersion == "" {
		e.SpecVersion = SpecVersion
	}
}
