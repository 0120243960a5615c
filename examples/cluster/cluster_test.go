package cluster_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/evhost/evhost/host/config"
)

// TestConfigsAgree checks, without starting anything, what run.sh relies
// on: config.toml is a valid evhost config on the nats broker with R3
// streams, whose url names the client port of each of the three NATS
// configs; the NATS configs are valid, form one cluster (distinct names,
// ports and stores, each routing to all three), and run JetStream. The
// cluster itself running evhost is tested by cmd/evhost's cluster test.
func TestConfigsAgree(t *testing.T) {
	c, err := config.Load("config.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Broker.Kind != config.BrokerNATS || c.Broker.Replicas != 3 {
		t.Fatalf("broker kind %q, replicas %d: want nats, 3", c.Broker.Kind, c.Broker.Replicas)
	}
	var clients, routes []string
	names, stores := map[string]bool{}, map[string]bool{}
	routesOf := map[string][]string{}
	for i := 1; i <= 3; i++ {
		file := fmt.Sprintf("n%d.conf", i)
		o, err := server.ProcessConfigFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !o.JetStream || o.StoreDir == "" {
			t.Errorf("%s: JetStream %v, store_dir %q", file, o.JetStream, o.StoreDir)
		}
		if names[o.ServerName] || stores[o.StoreDir] {
			t.Errorf("%s: server_name %q or store_dir %q used twice", file, o.ServerName, o.StoreDir)
		}
		names[o.ServerName], stores[o.StoreDir] = true, true
		if o.Cluster.Name != "evhost-example" {
			t.Errorf("%s: cluster name %q", file, o.Cluster.Name)
		}
		clients = append(clients, fmt.Sprintf("nats://%s:%d", o.Host, o.Port))
		routes = append(routes, fmt.Sprintf("nats-route://%s:%d", o.Cluster.Host, o.Cluster.Port))
		var to []string
		for _, r := range o.Routes {
			to = append(to, (&url.URL{Scheme: r.Scheme, Host: r.Host}).String())
		}
		routesOf[file] = to
	}
	for file, to := range routesOf {
		if !slices.Equal(to, routes) {
			t.Errorf("%s: routes %v, want every server's cluster port %v", file, to, routes)
		}
	}
	if got, want := strings.Split(c.Broker.URL, ","), clients; !slices.Equal(got, want) {
		t.Errorf("config.toml url %v, want the servers' client ports %v", got, want)
	}
}
