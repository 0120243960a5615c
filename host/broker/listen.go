package broker

import (
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
)

// listenerOptions maps [broker.listen_auth] and [broker.listen_tls] to the
// embedded server's listener.
func listenerOptions(b *config.Broker, e *natsbus.Embedded) {
	a := &b.ListenAuth
	e.Auth = natsbus.ListenAuth{User: a.User, Password: a.Password.Value(), Token: a.Token.Value(), NKey: a.NKey}
	if t := &b.ListenTLS; t.CertFile != "" {
		e.TLS = &natsbus.ListenTLS{CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFile: t.ClientCAFile}
	}
}

// listenerClient gives o, the options of a client of the embedded server's
// listener (evhost deploy), the credentials and TLS of [broker.listen_auth]
// and [broker.listen_tls], and returns the scheme of its URL.
func listenerClient(b *config.Broker, o *natsbus.Options) string {
	a := &b.ListenAuth
	switch {
	case a.User != "":
		o.User, o.Password = a.User, a.Password.Value()
	case a.Token.IsSet():
		o.Token = a.Token.Value()
	case a.NKeySeed.IsSet():
		o.NKeySeed = a.NKeySeed.Value()
	}
	t := &b.ListenTLS
	if t.CertFile == "" {
		return "nats://"
	}
	o.TLS = natsbus.TLS{CAFile: t.CAFile, CertFile: t.ClientCertFile, KeyFile: t.ClientKeyFile}
	return "tls://"
}
