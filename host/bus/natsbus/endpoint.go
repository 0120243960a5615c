package natsbus

import (
	"net"
)

// Endpoint is how another part of this process reaches the bus's server
// with the bus's own credentials: the NATS sources of the config, which
// read other applications' subjects on the daemon's broker. It holds
// credentials: it must not leave the process, nor be logged.
type Endpoint struct {
	// InProcess, when not nil, opens an in-process connection to the
	// embedded server (which then has no URLs); Token is the process's
	// internal token for it, if its listener requires credentials.
	InProcess func() (net.Conn, error)
	// URLs, CredsFile, User, Password, Token, NKeySeed and TLS are the
	// cluster's, as in Options.
	URLs                                       []string
	CredsFile, User, Password, Token, NKeySeed string
	TLS                                        TLS
}

// Endpoint returns how to reach the bus's server as the bus does; nil for
// a nil Bus (a daemon whose broker is not NATS).
func (b *Bus) Endpoint() *Endpoint {
	if b == nil {
		return nil
	}
	o := b.opts
	if b.srv != nil {
		return &Endpoint{InProcess: b.srv.InProcessConn, Token: b.internal}
	}
	return &Endpoint{URLs: o.URLs, CredsFile: o.CredsFile, User: o.User, Password: o.Password,
		Token: o.Token, NKeySeed: o.NKeySeed, TLS: o.TLS}
}
