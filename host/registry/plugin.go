package registry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
)

// Plugin serves one plugin's subscription with whichever version of the
// plugin is current when a call starts. A reload stores a new version and
// retires the old one; a call that raced the swap and found the old
// version closed runs again on the new one, so a swap never fails an
// event.
type Plugin struct {
	name string
	cur  atomic.Pointer[version]

	mu      sync.Mutex
	refusal *api.Refusal // the last refused reload
}

// version is one loaded version and the hashes of the sources it came
// from, by watch target path.
type version struct {
	wasm *wasm.Plugin
	srcs map[string]string
	cfg  string // configDigest of the config values it was loaded with
}

var _ dispatch.Handler = (*Plugin)(nil)

func newPlugin(name string, v *version) *Plugin {
	p := &Plugin{name: name}
	p.cur.Store(v)
	return p
}

// Name returns the plugin's name.
func (p *Plugin) Name() string { return p.name }

// Current returns the version that serves calls now.
func (p *Plugin) Current() *wasm.Plugin { return p.cur.Load().wasm }

// Handle implements dispatch.Handler.
func (p *Plugin) Handle(ctx context.Context, ev *event.Event, attempt int) dispatch.Outcome {
	for {
		v := p.cur.Load()
		lane, ok := dispatch.Worker(ctx)
		if !ok {
			lane = -1
		}
		res := v.wasm.CallAttemptOn(ctx, ev, attempt, lane)
		if errors.Is(res.Err, wasm.ErrClosed) && p.cur.Load() != v {
			continue
		}
		return dispatch.Outcome{Status: res.Status, Reason: res.Reason, Emits: res.Emits}
	}
}

// swap makes v the current version and returns the previous one.
func (p *Plugin) swap(v *version) *version { return p.cur.Swap(v) }

// refuse records a refused reload of the module bin (nil when it could
// not be read).
func (p *Plugin) refuse(err error, bin []byte) {
	r := &api.Refusal{Time: time.Now().UTC(), Error: err.Error()}
	if bin != nil {
		r.Version = wasm.Hash(bin)
	}
	p.mu.Lock()
	p.refusal = r
	p.mu.Unlock()
}

// LastRefusal returns the last refused reload since the current version
// was loaded, if any.
func (p *Plugin) LastRefusal() *api.Refusal {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refusal == nil || p.refusal.Time.Before(p.Current().LoadedAt()) {
		return nil
	}
	r := *p.refusal
	return &r
}

// Info fills in what the current version says of itself: kind, version,
// when it was loaded, its pool's counters and its last refusal.
func (p *Plugin) Info(info *api.PluginInfo) {
	v := p.Current()
	info.Kind, info.Version, info.LoadedAt = v.Kind().String(), v.Hash(), v.LoadedAt()
	info.Stats = api.PluginStats(v.Stats())
	info.LastRefusal = p.LastRefusal()
}
