package event

import (
	"crypto/sha256"
	"strconv"
	"time"
)

// ChildDepth returns the depth of an event emitted while handling parent:
// the parent's depth extension plus one (an event without one is at depth
// zero). The loop guard refuses emits past a configured depth.
func ChildDepth(parent *Event) int {
	if d, ok := parent.Ext(ExtDepth); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return n + 1
		}
	}
	return 1
}

// StampChild fills in the attributes the host owns on child, an event
// emitted by handler while it handled parent (ABI v1, section 4): id (when
// absent, derived with ChildID from index, the emit's position), source,
// time, specversion, causationid, correlationid (inherited, or the root's
// id), depth and traceparent (inherited, or none). Values the handler gave
// for these attributes, id excepted, are replaced. A delay extension
// becomes deliverat (see ResolveDelay).
func StampChild(child, parent *Event, source, handler string, index int, now time.Time) {
	if child.ID == "" {
		child.ID = ChildID(parent, handler, index)
	}
	_ = ResolveDelay(child, now) // an invalid delay is left for the emit's check
	child.Source = source
	child.SpecVersion = SpecVersion
	child.Time = now
	child.SetExt(ExtCausationID, parent.ID)
	corr, ok := parent.Ext(ExtCorrelationID)
	if !ok || corr == "" {
		corr = parent.ID
	}
	child.SetExt(ExtCorrelationID, corr)
	child.SetExt(ExtDepth, strconv.Itoa(ChildDepth(parent)))
	if tp, ok := parent.Ext(ExtTraceParent); ok {
		child.SetExt(ExtTraceParent, tp)
	} else {
		child.DeleteExt(ExtTraceParent)
	}
}

// ChildID derives the id of the index-th event that handler emits for
// parent, so that a redelivered handler emits the same ids and the bus
// deduplicates them. It is a UUID of version 8 made from SHA-256 of the
// parent's source and id, the handler's name and the index.
func ChildID(parent *Event, handler string, index int) string {
	h := sha256.New()
	for _, s := range []string{parent.Source, parent.ID, handler, strconv.Itoa(index)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return formatUUID(&u)
}
