package config

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/event"
)

// Sources is the [sources] table: events that come from outside evhost's
// own API, as inbound webhooks ([[sources.webhooks]]) and as other
// applications' NATS messages ([[sources.nats]]).
type Sources struct {
	Webhooks []HookSource
	NATS     []NATSSource
}

// Verification schemes of [[sources.webhooks]] verify.
const (
	VerifyStandardWebhooks = "standard-webhooks" // webhook-id, webhook-timestamp, webhook-signature
	VerifyHMACSHA256       = "hmac-sha256"       // an HMAC-SHA256 of the body in a header
	VerifyGitHub           = "github"            // X-Hub-Signature-256
	VerifyStripe           = "stripe"            // Stripe-Signature, t= and v1=
)

// HookSource is one [[sources.webhooks]] entry: an endpoint under
// /v1/hooks/ that turns a provider's signed POST into a CloudEvent. It
// needs no evhost token: the signature is the credential.
type HookSource struct {
	// Name names the source in the status, the metrics and logs (key
	// name, required; the syntax of a plugin name, unique among sources).
	Name string
	// Enabled is false when the entry says enabled = false: the path
	// answers 404 (default true).
	Enabled bool
	// Path is where the provider posts, under /v1/hooks/ (key path,
	// default the name): segments of A-Z, a-z, 0-9, '_', '-' and '.'
	// separated by '/'.
	Path string
	// Verify is the signature scheme (key verify, required): one of
	// VerifyStandardWebhooks, VerifyHMACSHA256, VerifyGitHub, VerifyStripe.
	Verify string
	// Secrets are the secrets accepted, several while rotating (keys
	// secret, secret_env, secret_file for one; secrets, secrets_env,
	// secrets_file, arrays, for several). standard-webhooks wants whsec_
	// secrets; the others at least 16 bytes.
	Secrets []Secret
	// Header, Encoding and Prefix describe the signature of hmac-sha256
	// (keys header, required with it; encoding, "hex" (default) or
	// "base64"; prefix, such as "sha256=", default none).
	Header, Encoding, Prefix string
	// Tolerance is how far the signed timestamp of standard-webhooks and
	// stripe may be from now (key tolerance, default "5m", at most "1h").
	Tolerance time.Duration

	// Type is the CloudEvent's type when it is fixed (key type); or
	// TypeHeader names the request header, or TypeField the top-level
	// member of the JSON body, to take it from, with TypePrefix before it
	// (keys type_header, type_field, type_prefix). Defaults: github takes
	// X-GitHub-Event with "github.", stripe and standard-webhooks the
	// body's "type" with "stripe." and "" ; hmac-sha256 has none.
	Type, TypeHeader, TypeField, TypePrefix string
	// IDHeader or IDField give the CloudEvent's id, the provider's
	// delivery id, so that a redelivery is deduplicated by the broker
	// (keys id_header, id_field). Defaults: webhook-id, X-GitHub-Delivery,
	// the body's "id" for stripe; none for hmac-sha256 (a random id, no
	// deduplication).
	IDHeader, IDField string
	// Source is the CloudEvent's source (key source, default
	// "evhost://hooks/NAME").
	Source string
	// ExtensionHeaders are request headers copied into the event as
	// extension attributes, their names lower-cased with every character
	// but a-z and 0-9 dropped (key extension_headers; see
	// event.ExtensionNameOf).
	ExtensionHeaders []string
	// MaxBody caps the body (key max_body, default [host] max_body).
	MaxBody Size
}

// NATS source delivery policies of a new durable consumer (key deliver).
const (
	DeliverNew = "new" // the messages stored after the consumer is created
	DeliverAll = "all" // every message the stream holds
)

// NATSSource is one [[sources.nats]] entry: another application's NATS
// messages on a subject, made into CloudEvents. From a core NATS subject
// it is at-most-once (what arrives while the daemon is down or busy is
// lost); from a JetStream stream (key stream) it is at-least-once, with a
// durable consumer of the source's own.
type NATSSource struct {
	// Name names the source (key name, required, unique among sources)
	// and, with stream, its durable consumer ("evhost-source-NAME").
	Name string
	// Enabled is false when the entry says enabled = false (default true).
	Enabled bool
	// Subject is the subject to read, with NATS wildcards "*" and ">"
	// (key subject, required). On the daemon's own broker it may not
	// overlap the broker's subjects (<prefix>.>, $JS.>, ...).
	Subject string
	// URL is the server to read from (key url: nats://, tls://, several
	// separated by commas); empty means the daemon's broker (the embedded
	// server, or the [broker] cluster with its credentials).
	URL string
	// CredsFile, User and Password, Token, TLS authenticate to URL, as
	// the keys of [broker] of the same names do (creds_file, user,
	// password*, token*, [sources.nats.tls]); with url only.
	CredsFile string
	User      string
	Password  Secret
	Token     Secret
	TLS       BrokerTLS
	// Stream is the JetStream stream that stores Subject (key stream);
	// empty means core NATS.
	Stream string
	// Deliver is where a new durable consumer starts (key deliver,
	// DeliverNew (default) or DeliverAll); stream only.
	Deliver string
	// AckWait is how long a message may stay unacknowledged before the
	// stream redelivers it (key ack_wait, default "30s"); stream only.
	AckWait time.Duration

	// Type is the CloudEvent's type when it is fixed (key type); with
	// TypeFromSubject (key type_from_subject) it is the message's subject;
	// TypePrefix goes before either (key type_prefix). One of type and
	// type_from_subject is required.
	Type            string
	TypeFromSubject bool
	TypePrefix      string
	// Source is the CloudEvent's source (key source, default
	// "evhost://nats/NAME").
	Source string
	// ContentType is the datacontenttype of the events (key content_type;
	// default the message's Content-Type header, if any).
	ContentType string
	// MaxMessage caps a message's payload and headers (key max_message,
	// default "1MiB"); a larger one is refused, counted and acknowledged.
	MaxMessage Size
}

// sources decodes [sources].
func (d *decoder) sources(c *Config, t *table) {
	d.tables(t, "webhooks", "[[sources.webhooks]]", func(t *table) {
		w := c.NewHookSource("")
		t.str("name", &w.Name)
		t.boolean("enabled", &w.Enabled)
		t.str("path", &w.Path)
		t.str("verify", &w.Verify)
		d.secrets(t, &w.Secrets)
		t.str("header", &w.Header)
		t.str("encoding", &w.Encoding)
		t.str("prefix", &w.Prefix)
		t.duration("tolerance", &w.Tolerance)
		t.str("type", &w.Type)
		t.str("type_header", &w.TypeHeader)
		t.str("type_field", &w.TypeField)
		t.str("type_prefix", &w.TypePrefix)
		t.str("id_header", &w.IDHeader)
		t.str("id_field", &w.IDField)
		t.str("source", &w.Source)
		t.strings("extension_headers", &w.ExtensionHeaders)
		t.size("max_body", &w.MaxBody)
		t.done()
		hookDefaults(&w, t.has)
		c.Sources.Webhooks = append(c.Sources.Webhooks, w)
	})
	d.tables(t, "nats", "[[sources.nats]]", func(t *table) {
		n := c.NewNATSSource("")
		t.str("name", &n.Name)
		t.boolean("enabled", &n.Enabled)
		t.str("subject", &n.Subject)
		t.str("url", &n.URL)
		if t.str("creds_file", &n.CredsFile) && n.CredsFile != "" {
			n.CredsFile = c.Resolve(n.CredsFile)
		}
		t.str("user", &n.User)
		d.secret(t, "password", &n.Password)
		d.secret(t, "token", &n.Token)
		if tt := t.sub("tls"); tt != nil {
			for _, f := range []struct {
				key string
				dst *string
			}{{"ca_file", &n.TLS.CAFile}, {"cert_file", &n.TLS.CertFile}, {"key_file", &n.TLS.KeyFile}} {
				if tt.str(f.key, f.dst) && *f.dst != "" {
					*f.dst = c.Resolve(*f.dst)
				}
			}
			tt.done()
		}
		t.str("stream", &n.Stream)
		t.str("deliver", &n.Deliver)
		t.duration("ack_wait", &n.AckWait)
		t.str("type", &n.Type)
		t.boolean("type_from_subject", &n.TypeFromSubject)
		t.str("type_prefix", &n.TypePrefix)
		t.str("source", &n.Source)
		t.str("content_type", &n.ContentType)
		t.size("max_message", &n.MaxMessage)
		t.done()
		if n.Source == "" && n.Name != "" {
			n.Source = "evhost://nats/" + n.Name
		}
		c.Sources.NATS = append(c.Sources.NATS, n)
	})
	t.done()
}

// has reports whether the table gives key.
func (t *table) has(key string) bool {
	_, ok := t.m[key]
	return ok
}

// secrets decodes the secret keys of a webhook source: secret, secret_env
// or secret_file for one, secrets, secrets_env or secrets_file for several;
// at most one of the six.
func (d *decoder) secrets(t *table, dst *[]Secret) {
	var given []string
	for _, k := range []string{"secret", "secret_env", "secret_file", "secrets", "secrets_env", "secrets_file"} {
		if t.has(k) {
			given = append(given, k)
		}
	}
	if len(given) > 1 {
		for _, k := range []string{"secret", "secret_env", "secret_file", "secrets", "secrets_env", "secrets_file"} {
			t.lookup(k)
		}
		slices.SortFunc(given, func(a, b string) int {
			return d.pos.keys[keyPath(t.path, a)] - d.pos.keys[keyPath(t.path, b)]
		})
		d.fail(keyPath(t.path, given[1]), true, newProblem(ErrInvalid,
			"only one of secret, secret_env, secret_file, secrets, secrets_env and secrets_file may be set"))
		d.failed[keyPath(t.path, "secret")] = true // no "missing" on top of this
		return
	}
	var one Secret
	d.secret(t, "secret", &one)
	if one.IsSet() {
		*dst = []Secret{one}
		return
	}
	for _, variant := range []struct {
		key  string
		read func(string) (Secret, error)
	}{
		{"secrets", func(s string) (Secret, error) {
			if s == "" {
				return Secret{}, newProblem(ErrInvalid, "empty secret")
			}
			return NewSecret(s), nil
		}},
		{"secrets_env", d.envSecret},
		{"secrets_file", d.fileSecret},
	} {
		var refs []string
		if !t.strings(variant.key, &refs) {
			continue
		}
		path := keyPath(t.path, variant.key)
		if len(refs) == 0 {
			d.fail(path, false, newProblem(ErrInvalid, "empty: list at least one secret"))
		}
		for i, ref := range refs {
			s, err := variant.read(ref)
			if err != nil {
				d.fail(indexPath(path, i), false, err)
				continue
			}
			*dst = append(*dst, s)
		}
	}
}

// sources checks [sources]: every entry, and names unique among sources
// and paths among webhook sources.
func (v *checker) sources(s *Sources) {
	names := map[string]string{}
	name := func(path, n string) {
		switch first, dup := names[n]; {
		case n == "":
			v.missing(keyPath(path, "name"), "missing: every source needs a name")
		case !validName(n):
			v.invalid(keyPath(path, "name"), "invalid source name %q: use 1 to 64 of A-Z, a-z, 0-9, '_' and '-'", n)
		case dup:
			v.invalid(keyPath(path, "name"), "name %q is already used by %s", n, first)
		default:
			names[n] = path
		}
	}
	paths := map[string]string{}
	for i := range s.Webhooks {
		w := &s.Webhooks[i]
		path := indexPath("sources.webhooks", i)
		name(path, w.Name)
		if first, dup := paths[w.Path]; dup && w.Path != "" {
			v.invalid(keyPath(path, "path"), "path %q is already used by %s", w.Path, first)
		} else {
			paths[w.Path] = path
		}
		v.hookSource(path, w)
	}
	for i := range s.NATS {
		n := &s.NATS[i]
		path := indexPath("sources.nats", i)
		name(path, n.Name)
		v.natsSource(path, n)
	}
}

func (v *checker) hookSource(path string, w *HookSource) {
	at := func(k string) string { return keyPath(path, k) }
	if !validHookPath(w.Path) {
		v.invalid(at("path"), "invalid path %q: segments of A-Z, a-z, 0-9, '_', '-' and '.' separated by '/' (served under /v1/hooks/)", w.Path)
	}
	switch w.Verify {
	case VerifyStandardWebhooks, VerifyGitHub, VerifyStripe:
		for _, k := range []struct {
			key string
			set bool
		}{{"header", w.Header != ""}, {"encoding", w.Encoding != "hex"}, {"prefix", w.Prefix != ""}} {
			if k.set {
				v.invalid(at(k.key), "%s is used only with verify = %q (verify = %q has its own)", k.key, VerifyHMACSHA256, w.Verify)
			}
		}
	case VerifyHMACSHA256:
		if w.Header == "" {
			v.missing(at("header"), "missing: the header that carries the signature")
		} else if !validHeaderName(w.Header) {
			v.invalid(at("header"), "invalid header name %q", w.Header)
		}
		if w.Encoding != "hex" && w.Encoding != "base64" {
			v.invalid(at("encoding"), "invalid encoding %q (want hex or base64)", w.Encoding)
		}
	case "":
		v.missing(at("verify"), "missing: how requests are verified: %s, %s, %s or %s",
			VerifyStandardWebhooks, VerifyHMACSHA256, VerifyGitHub, VerifyStripe)
	default:
		v.invalid(at("verify"), "unknown verify %q (want %s, %s, %s or %s)", w.Verify,
			VerifyStandardWebhooks, VerifyHMACSHA256, VerifyGitHub, VerifyStripe)
	}
	if len(w.Secrets) == 0 {
		v.missing(at("secret"), "missing: set secret, secret_env or secret_file (secrets, secrets_env or secrets_file while rotating)")
	}
	for i, s := range w.Secrets {
		val := s.Value()
		switch {
		case w.Verify == VerifyStandardWebhooks && checkWebhookSecret(val) != nil:
			v.invalid(at("secret"), "invalid secret %d: not whsec_ followed by the base64 of at least 16 bytes", i+1)
		case w.Verify != VerifyStandardWebhooks && len(val) < 16:
			v.invalid(at("secret"), "invalid secret %d: shorter than 16 bytes, which an attacker can guess from one signed request", i+1)
		}
	}
	if w.Tolerance <= 0 || w.Tolerance > time.Hour {
		v.invalid(at("tolerance"), "invalid tolerance %v: want more than 0s and at most 1h", w.Tolerance)
	}
	n := 0
	for _, set := range []bool{w.Type != "", w.TypeHeader != "", w.TypeField != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		v.missing(at("type"), "missing: the events' type: set type, type_header or type_field")
	case n > 1:
		v.invalid(at("type"), "set only one of type, type_header and type_field")
	case w.Type != "":
		if err := checkPattern(w.TypePrefix + w.Type); err != nil || strings.ContainsAny(w.Type, "*>") {
			v.invalid(at("type"), "invalid event type %q", w.TypePrefix+w.Type)
		}
	}
	if w.TypeHeader != "" && !validHeaderName(w.TypeHeader) {
		v.invalid(at("type_header"), "invalid header name %q", w.TypeHeader)
	}
	if w.TypePrefix != "" && (strings.ContainsAny(w.TypePrefix, "*> \t") || strings.HasPrefix(w.TypePrefix, ".")) {
		v.invalid(at("type_prefix"), "invalid type_prefix %q: the start of an event type, such as \"github.\"", w.TypePrefix)
	}
	if w.IDHeader != "" && w.IDField != "" {
		v.invalid(at("id_field"), "set only one of id_header and id_field")
	}
	if w.IDHeader != "" && !validHeaderName(w.IDHeader) {
		v.invalid(at("id_header"), "invalid header name %q", w.IDHeader)
	}
	checkSource(v, at("source"), w.Source)
	seen := map[string]string{}
	for i, h := range w.ExtensionHeaders {
		p := indexPath(at("extension_headers"), i)
		ext := event.ExtensionNameOf(h)
		switch {
		case !validHeaderName(h):
			v.invalid(p, "invalid header name %q", h)
		case event.ValidExtensionName(ext) != nil || event.OwnedExtension(ext):
			v.invalid(p, "header %q cannot be an extension: its name becomes %q", h, ext)
		case seen[ext] != "":
			v.invalid(p, "headers %q and %q both become extension %q", seen[ext], h, ext)
		default:
			seen[ext] = h
		}
	}
	if w.MaxBody < 0 {
		v.invalid(at("max_body"), "invalid max_body %v: must be positive", w.MaxBody)
	}
}

func (v *checker) natsSource(path string, n *NATSSource) {
	at := func(k string) string { return keyPath(path, k) }
	if n.Subject == "" {
		v.missing(at("subject"), "missing: the subject to read")
	} else if err := checkPattern(n.Subject); err != nil {
		v.invalid(at("subject"), "invalid subject %q: %v", n.Subject, err)
	}
	if n.URL == "" {
		for _, k := range []struct {
			key string
			set bool
		}{
			{"creds_file", n.CredsFile != ""}, {"user", n.User != ""}, {"password", n.Password.IsSet()},
			{"token", n.Token.IsSet()}, {"tls", n.TLS != (BrokerTLS{})},
		} {
			if k.set {
				v.invalid(at(k.key), "%s is used only with url (the daemon's broker has its own)", k.key)
			}
		}
	} else {
		for _, u := range strings.Split(n.URL, ",") {
			if err := checkNATSURL(strings.TrimSpace(u)); err != nil {
				v.invalid(at("url"), "invalid url %q: %v", api.RedactURL(strings.TrimSpace(u)), err)
			}
		}
		k := 0
		for _, set := range []bool{n.CredsFile != "", n.User != "", n.Token.IsSet()} {
			if set {
				k++
			}
		}
		if k > 1 {
			v.invalid(at("token"), "set at most one of creds_file, user and token")
		}
		if n.Password.IsSet() && n.User == "" {
			v.invalid(at("password"), "password needs user")
		}
		if (n.TLS.CertFile == "") != (n.TLS.KeyFile == "") {
			v.invalid(at("tls"), "set both cert_file and key_file, or neither")
		}
	}
	if n.Stream == "" {
		if n.Deliver != DeliverNew || n.AckWait != 30*time.Second {
			v.invalid(at("stream"), "deliver and ack_wait are used only with stream (core NATS has no acknowledgements)")
		}
	} else if !validStreamName(n.Stream) {
		v.invalid(at("stream"), "invalid stream name %q", n.Stream)
	}
	if n.Deliver != DeliverNew && n.Deliver != DeliverAll {
		v.invalid(at("deliver"), "invalid deliver %q (want %q or %q)", n.Deliver, DeliverNew, DeliverAll)
	}
	if n.AckWait < time.Second {
		v.invalid(at("ack_wait"), "invalid ack_wait %v: must be at least 1s", n.AckWait)
	}
	switch {
	case n.Type == "" && !n.TypeFromSubject:
		v.missing(at("type"), "missing: the events' type: set type, or type_from_subject = true")
	case n.Type != "" && n.TypeFromSubject:
		v.invalid(at("type"), "set type or type_from_subject, not both")
	case n.Type != "":
		if err := checkPattern(n.TypePrefix + n.Type); err != nil || strings.ContainsAny(n.Type, "*>") {
			v.invalid(at("type"), "invalid event type %q", n.TypePrefix+n.Type)
		}
	}
	if n.TypePrefix != "" && (strings.ContainsAny(n.TypePrefix, "*> \t") || strings.HasPrefix(n.TypePrefix, ".")) {
		v.invalid(at("type_prefix"), "invalid type_prefix %q: the start of an event type, such as \"orders.\"", n.TypePrefix)
	}
	checkSource(v, at("source"), n.Source)
	if n.MaxMessage < 1 || n.MaxMessage > 64*MiB {
		v.invalid(at("max_message"), "invalid max_message %v: want at least 1B and at most 64MiB", n.MaxMessage)
	}
}

// natsBrokerSubjects refuses, for a source on the daemon's own broker, a
// subject that overlaps the broker's (its events would come back as new
// events, forever) or NATS's own.
func (v *checker) natsBrokerSubjects(c *Config) {
	for i := range c.Sources.NATS {
		n := &c.Sources.NATS[i]
		if n.URL != "" || n.Subject == "" {
			continue
		}
		path := keyPath(indexPath("sources.nats", i), "subject")
		if c.Broker.Kind == BrokerMemory {
			v.invalid(path, "the memory broker has no NATS server to read: set url, or use kind %q or %q", BrokerEmbedded, BrokerNATS)
			continue
		}
		first, _, _ := strings.Cut(n.Subject, ".")
		if first == "*" || first == ">" || first == c.Broker.Prefix || strings.HasPrefix(first, "$") || first == "_INBOX" {
			v.invalid(path, "subject %q overlaps the broker's own subjects (%s.>, $JS.>, $KV.>, _INBOX.>): its events would be read back as new ones", n.Subject, c.Broker.Prefix)
		}
	}
}

// checkSource checks a CloudEvents source: a non-empty URI reference.
func checkSource(v *checker, path, s string) {
	if s == "" {
		v.missing(path, "missing: the events' source")
		return
	}
	if _, err := url.Parse(s); err != nil || strings.ContainsAny(s, " \t\r\n") {
		v.invalid(path, "invalid source %q: want a URI reference such as \"evhost://hooks/github\"", s)
	}
}

// validHookPath reports whether p can follow /v1/hooks/.
func validHookPath(p string) bool {
	if p == "" || len(p) > 200 {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(isBareChar(c) || c == '.') {
				return false
			}
		}
	}
	return true
}

// validStreamName reports whether s can name a JetStream stream.
func validStreamName(s string) bool {
	return s != "" && len(s) <= 255 && !strings.ContainsAny(s, " \t\r\n.*>/\\")
}
