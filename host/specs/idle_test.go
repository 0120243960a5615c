package specs

import (
	"testing"
	"time"

	"github.com/evhost/evhost/host/config"
)

// idle_timeout reaches the runtime as is, and "0s" (never) as a negative
// IdleTimeout: zero would mean the runtime's default.
func TestIdleTimeoutOption(t *testing.T) {
	cfg := config.Default()
	for _, tc := range []struct {
		idle, want time.Duration
	}{{5 * time.Minute, 5 * time.Minute}, {time.Second, time.Second}, {0, -1}} {
		p := cfg.NewPlugin("p")
		p.IdleTimeout, p.MinInstances = tc.idle, 0
		o, err := PluginOptions(&p, Env{})
		if err != nil {
			t.Fatal(err)
		}
		if o.IdleTimeout != tc.want || o.MinInstances != 0 {
			t.Errorf("idle_timeout %v: IdleTimeout %v MinInstances %d, want %v and 0", tc.idle, o.IdleTimeout, o.MinInstances, tc.want)
		}
	}
	if d := config.Default().Defaults.IdleTimeout; d != 5*time.Minute {
		t.Errorf("default idle_timeout %v", d)
	}
}
