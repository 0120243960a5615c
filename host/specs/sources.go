package specs

import (
	"strings"

	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/sources"
	"github.com/evhost/evhost/host/sources/verify"
)

// Sources maps [sources] to the sources' specs.
func Sources(cfg *config.Config) ([]sources.HookSpec, []sources.NATSSpec) {
	var hooks []sources.HookSpec
	for i := range cfg.Sources.Webhooks {
		w := &cfg.Sources.Webhooks[i]
		secrets := make([]string, len(w.Secrets))
		for j, s := range w.Secrets {
			secrets[j] = s.Value()
		}
		hooks = append(hooks, sources.HookSpec{
			Name: w.Name, Path: w.Path, Enabled: w.Enabled,
			Verifier: verify.Verifier{Scheme: w.Verify, Secrets: secrets, Header: w.Header, Encoding: w.Encoding,
				Prefix: w.Prefix, Tolerance: w.Tolerance},
			Type: w.Type, TypeHeader: w.TypeHeader, TypeField: w.TypeField, TypePrefix: w.TypePrefix,
			IDHeader: w.IDHeader, IDField: w.IDField, Source: w.Source, ExtensionHeaders: w.ExtensionHeaders,
			MaxBody: int64(w.MaxBody),
		})
	}
	var ns []sources.NATSSpec
	for i := range cfg.Sources.NATS {
		n := &cfg.Sources.NATS[i]
		sp := sources.NATSSpec{
			Name: n.Name, Enabled: n.Enabled, Subject: n.Subject, Stream: n.Stream, DeliverAll: n.Deliver == config.DeliverAll,
			AckWait: n.AckWait, Type: n.Type, TypeFromSubject: n.TypeFromSubject, TypePrefix: n.TypePrefix,
			Source: n.Source, ContentType: n.ContentType, MaxMessage: int64(n.MaxMessage),
		}
		if n.URL != "" {
			ep := &natsbus.Endpoint{CredsFile: n.CredsFile, User: n.User, Password: n.Password.Value(), Token: n.Token.Value(),
				TLS: natsbus.TLS{CAFile: n.TLS.CAFile, CertFile: n.TLS.CertFile, KeyFile: n.TLS.KeyFile}}
			for _, u := range strings.Split(n.URL, ",") {
				if u = strings.TrimSpace(u); u != "" {
					ep.URLs = append(ep.URLs, u)
				}
			}
			sp.Server = ep
		}
		ns = append(ns, sp)
	}
	return hooks, ns
}
