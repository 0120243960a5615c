package dispatch

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/evhost/evhost/host/bus"
)

// shareEvery is how often a rate-limited route reads how many processes
// share its subscription and resizes its share.
const shareEvery = time.Second

// rateShare is this process's share of a route's rate limit: the rate
// divided by the processes that run the route (bus.Members), as a token
// bucket (golang.org/x/time/rate) resized when that number changes.
type rateShare struct {
	lim   *rate.Limiter
	once  sync.Once
	leave func()
}

// shareRate joins the route's members, when the bus counts them, and
// keeps the limiter's share up to date until stopping is closed or the
// dispatcher stops.
func (d *Dispatcher) shareRate(r *Route, stopping <-chan struct{}) *rateShare {
	burst := max(r.Burst, 1)
	count, leave := func() int { return 1 }, func() {}
	if m, ok := d.bus.(bus.Members); ok {
		count, leave = m.Join(r.Name)
	}
	share := func(n int) (rate.Limit, int) {
		n = max(n, 1)
		return rate.Limit(r.Rate / float64(n)), max(1, int(math.Ceil(float64(burst)/float64(n))))
	}
	lim, b := share(count())
	s := &rateShare{lim: rate.NewLimiter(lim, b), leave: leave}
	go func() {
		t := time.NewTicker(shareEvery)
		defer t.Stop()
		for {
			select {
			case <-stopping:
				return
			case <-d.hardCtx.Done():
				return
			case <-t.C:
				if l, b := share(count()); l != s.lim.Limit() || b != s.lim.Burst() {
					s.lim.SetLimit(l)
					s.lim.SetBurst(b)
				}
			}
		}
	}()
	return s
}

// leave stops counting this process among the route's members.
func (r *runner) leave() {
	if r.rate != nil {
		r.rate.once.Do(r.rate.leave)
	}
}

// waitTurn waits until the route's rate limit lets dl's handler start,
// extending dl and the deliveries the worker holds (held) meanwhile so
// that the wait uses up no attempt. It returns false when the route or
// the dispatcher stops first, and whether it waited at all: the run then
// starts after the wait, which is not part of it.
func (r *runner) waitTurn(dl bus.Delivery, held holding) (ok, waited bool) {
	if r.rate == nil {
		return true, false
	}
	res := r.rate.lim.Reserve()
	wait := res.Delay()
	if wait <= 0 {
		return true, false
	}
	ackWait := r.ackWait()
	turn := time.NewTimer(wait)
	defer turn.Stop()
	extend := time.NewTicker(min(time.Second, ackWait/3))
	defer extend.Stop()
	for {
		select {
		case <-turn.C:
			return true, true
		case <-extend.C:
			held.extend(dl)
		case <-r.stopping:
			res.Cancel()
			return false, true
		case <-r.d.hardCtx.Done():
			res.Cancel()
			return false, true
		}
	}
}
