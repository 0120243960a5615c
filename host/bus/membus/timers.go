package membus

import "time"

// timerEntry is a due time for one subscription: a sweep for expired ack
// waits, or the redelivery of the slot idx (generation gen) after a Nak
// delay.
type timerEntry struct {
	at    int64 // bus time
	s     *subscription
	idx   int32
	gen   uint32
	sweep bool
}

// timerHeap is a binary min-heap of entries by due time.
type timerHeap []timerEntry

func (h *timerHeap) push(e timerEntry) {
	*h = append(*h, e)
	q := *h
	for i := len(q) - 1; i > 0; {
		parent := (i - 1) / 2
		if q[parent].at <= q[i].at {
			break
		}
		q[parent], q[i] = q[i], q[parent]
		i = parent
	}
}

func (h *timerHeap) pop() timerEntry {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = timerEntry{}
	q = q[:last]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < len(q) && q[l].at < q[small].at {
			small = l
		}
		if r < len(q) && q[r].at < q[small].at {
			small = r
		}
		if small == i {
			break
		}
		q[small], q[i] = q[i], q[small]
		i = small
	}
	*h = q
	return top
}

// schedule adds e to the bus's timers and wakes the timer goroutine when e
// is now the earliest.
func (b *Bus) schedule(e timerEntry) {
	b.tmu.Lock()
	b.theap.push(e)
	first := b.theap[0].at == e.at
	b.tmu.Unlock()
	if first {
		select {
		case b.twake <- struct{}{}:
		default:
		}
	}
}

// runTimers is the bus's one goroutine: it fires due timer entries until
// the bus is closed.
func (b *Bus) runTimers() {
	defer close(b.stopped)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var due []timerEntry
	for {
		b.tmu.Lock()
		now := b.now()
		for len(b.theap) > 0 && b.theap[0].at <= now {
			due = append(due, b.theap.pop())
		}
		wait := time.Duration(-1)
		if len(b.theap) > 0 {
			wait = time.Duration(b.theap[0].at - now)
		}
		b.tmu.Unlock()

		for _, e := range due {
			if e.sweep {
				e.s.sweep(e.at)
			} else {
				e.s.wake(e.idx, e.gen)
			}
		}
		clear(due)
		due = due[:0]

		if wait >= 0 {
			t.Reset(wait)
		} else {
			t.Stop()
		}
		select {
		case <-t.C:
		case <-b.twake:
		case <-b.done:
			return
		}
	}
}
