// Package broker opens the bus that a config's [broker] table names: the
// embedded NATS server (its files under <data_dir>/nats), an external NATS
// cluster, or the memory bus; and gives the options that reach that
// broker from another process (evhost deploy).
//
// It is part of the composition: it maps host/config to host/bus/natsbus
// and host/bus/membus options, and nothing below it imports config.
package broker
