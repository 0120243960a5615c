package config_test

import (
	"fmt"

	"github.com/evhost/evhost/host/config"
)

func ExampleParse() {
	c, err := config.Parse("config.toml", []byte(`
[defaults]
concurrency = 8

[plugins.payment]
path = "plugins/payment"
events = ["order.placed"]
emits = ["payment.charged"]
timeout = "2s"
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	p := c.Plugin("payment")
	fmt.Println(p.Name, p.Events, p.Emits, p.ResolvedPath)
	fmt.Println("timeout", p.Timeout, "concurrency", p.Concurrency, "memory", p.Memory)
	fmt.Println("listen", c.Host.Listen, "broker", c.Broker.Kind)
	// Output:
	// payment [order.placed] [payment.charged] plugins/payment
	// timeout 2s concurrency 8 memory 64MiB
	// listen 127.0.0.1:8080 broker embedded
}

// Every problem of a file is reported at once, sorted by position, each with
// its file:line:column and key path.
func ExampleParse_errors() {
	_, err := config.Parse("config.toml", []byte(`[host]
lisen = "127.0.0.1:8080"

[plugins.payment]
path = "plugins/payment"
events = ["order.placed", "order..x"]
timeout = "5x"
concurrency = -1
`))
	fmt.Println(err)
	// Output:
	// config.toml:2:1: host.lisen: unknown key (did you mean "listen"?)
	// config.toml:6:27: plugins.payment.events[1]: invalid pattern "order..x": empty token (a leading, trailing or double dot)
	// config.toml:7:11: plugins.payment.timeout: invalid duration "5x": time: unknown unit "x" in duration "5x"
	// config.toml:8:15: plugins.payment.concurrency: invalid concurrency -1: must be at least 1
}
