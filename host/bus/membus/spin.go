package membus

import (
	"runtime"
	"sync"
)

// spinTries is how many times lockSpinning tries the lock, yielding the
// processor between two tries, before it waits to be woken.
const spinTries = 200

// lockSpinning locks mu, as mu.Lock does, but waits longer before it
// sleeps: it tries the lock up to spinTries times, yielding the processor
// to other goroutines between tries. The subscription lock is held for
// about a microsecond at a time (a batch of acks and fetches, a run of
// flushRun events), by the publisher and the workers in turn; a goroutine
// that sleeps on it instead leaves its processor idle until the lock's
// release wakes it, which on a VM takes tens of microseconds. See
// RATIONALE.md, "Why do the publisher and the workers spin for the
// subscription lock?".
func lockSpinning(mu *sync.Mutex) {
	for range spinTries {
		if mu.TryLock() {
			return
		}
		runtime.Gosched()
	}
	mu.Lock()
}
