// Package specs maps the config's plugins and webhooks to the specs the
// parts run: registry.Spec (the module's source, the sandbox's options,
// the subscription) and webhooks.Spec. The daemon, `evhost deploy` and
// `evhost call` share it, so that a plugin is checked by deploy exactly as
// a daemon will load it.
//
// It is part of the composition root: with host/broker it is where
// host/config is read; the parts it feeds (registry, webhooks, wasm,
// dispatch, httpcap, kv) take their own options.
package specs
