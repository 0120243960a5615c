package natsbus

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults of Options' and Embedded's zero fields.
const (
	DefaultPrefix        = "evhost"
	DefaultQueue         = 1024
	DefaultDedupWindow   = 2 * time.Minute
	DefaultMaxAckPending = 10_000
	// DefaultSyncInterval is how often the embedded server flushes its
	// files to stable storage (fsync). See RATIONALE.md, "Why sync every
	// 100 ms?".
	DefaultSyncInterval = 100 * time.Millisecond
	// DefaultRefresh is how often, at most, Publish refreshes its view of
	// the subscriptions' queue lengths from the server.
	DefaultRefresh = 200 * time.Millisecond
	// DefaultMaxDelay and DefaultMaxDelayed bound delayed events (see
	// delayed.go): how far ahead one may be due, and how many may wait.
	DefaultMaxDelay   = 30 * 24 * time.Hour
	DefaultMaxDelayed = 100_000
)

// Options configure a Bus: where the NATS server is (Embedded, or URLs
// with credentials), and the settings of the streams the bus keeps there.
// Exactly one of Embedded and URLs must be set.
type Options struct {
	// Embedded, when not nil, runs a NATS server with JetStream inside
	// the process and connects to it in-process: the `embedded` broker.
	Embedded *Embedded

	// URLs are the servers of an external NATS cluster ("nats://host:4222",
	// "tls://..."): the `nats` broker. The client discovers the other
	// servers of the cluster and reconnects on its own, forever.
	URLs []string
	// CredsFile is a NATS credentials file (a user JWT and its nkey
	// seed). At most one of CredsFile, User and Token may be set.
	CredsFile string
	// User and Password authenticate with a user name and password.
	User, Password string
	// Token authenticates with a token.
	Token string
	// NKeySeed authenticates with a user nkey: the seed ("SU...") that
	// signs the server's nonce.
	NKeySeed string
	// TLS configures TLS to the external cluster; its zero value keeps
	// what the URLs say (tls:// URLs use the system roots).
	TLS TLS
	// ClientName names the bus's connections in the server's monitoring.
	// Empty means "evhost".
	ClientName string

	// Prefix names the bus's streams (<prefix>_events, <prefix>_dlq) and
	// subjects (<prefix>.events.<type>): buses
	// with different prefixes share a server without seeing each other.
	// 1 to 32 characters of A-Z, a-z, 0-9, '_' and '-'; empty means
	// DefaultPrefix.
	Prefix string
	// Replicas of the streams. Zero means 1 with Embedded, and with URLs
	// 3 when the server is part of a cluster and 1 otherwise.
	Replicas int
	// MaxAge is how long the event stream, which is the audit log, keeps
	// an event; zero keeps events until MaxBytes is reached. An event
	// that a subscription has not settled when it ages out is lost for
	// that subscription: keep MaxAge well above the longest outage of a
	// subscription you would tolerate.
	MaxAge time.Duration
	// MaxBytes caps the event stream; past it the oldest events are
	// removed, settled or not. Zero means no limit (the disk).
	MaxBytes int64
	// DedupWindow is how long an accepted event's source and id are
	// remembered to report a later copy as a duplicate (the stream's
	// Duplicates window). Zero means DefaultDedupWindow. It costs about
	// 150 bytes of server memory per event in the window.
	DedupWindow time.Duration
	// DeadLetterMaxAge is how long dead letters are kept; zero keeps them
	// until they are redriven.
	DeadLetterMaxAge time.Duration
	// Queue is the queue bound of subscriptions that do not set one
	// (Subscription.Queue zero). Zero means DefaultQueue.
	Queue int
	// MaxAckPending caps the deliveries of one subscription that may be
	// unsettled at once, across all its consumers (never more than its
	// queue bound). Zero means DefaultMaxAckPending.
	MaxAckPending int
	// Refresh is how often, at most, the bus lists the subscriptions'
	// queue lengths from the server, for the backpressure check. Zero
	// means DefaultRefresh.
	Refresh time.Duration
	// MaxDelay is how far ahead a delayed event may be due (its deliverat
	// extension); a later one is refused as invalid. Zero means
	// DefaultMaxDelay; it is never more than MaxAge when that is set.
	MaxDelay time.Duration
	// MaxDelayed caps the delayed events waiting on the server; past it
	// Publish refuses delayed events with backpressure. Zero means
	// DefaultMaxDelayed.
	MaxDelayed int
	// Logger receives the bus's warnings; nil discards them.
	Logger *slog.Logger
}

// Embedded configures the NATS server that a Bus runs inside the process.
type Embedded struct {
	// StoreDir is the directory of JetStream's files; required.
	StoreDir string
	// Listen, when not empty, is a host:port on which the server also
	// accepts network clients (the nats CLI, other daemons). Empty means
	// no listener at all: only this process can reach the server.
	Listen string
	// SyncInterval is how often the server flushes written data to
	// stable storage. Zero means DefaultSyncInterval (100 ms); 1 s suits
	// disks whose fsync takes milliseconds. An acknowledged
	// event survives a crash of the process in any case (it is in the
	// page cache); a power loss can lose what was written since the last
	// flush.
	SyncInterval time.Duration
	// SyncAlways flushes to stable storage before acknowledging each
	// write (fsync = "always"): nothing acknowledged is lost to a power
	// loss, at about a tenth of the throughput. It overrides
	// SyncInterval.
	SyncAlways bool
	// MaxStore caps JetStream's disk usage; zero means no cap but the
	// disk's.
	MaxStore int64
	// ServerName names the server; empty means "evhost-embedded".
	ServerName string
	// Auth is what network clients must present on Listen; its zero
	// value requires nothing (see ListenAuth). This process's own
	// connections are let in either way.
	Auth ListenAuth
	// TLS, when not nil, serves Listen over TLS only.
	TLS *ListenTLS
}

// TLS holds the files of a TLS client configuration.
type TLS struct {
	// CAFile is a PEM file of the certificate authorities to trust
	// instead of the system's.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// servers that verify clients.
	CertFile, KeyFile string
}

func (t TLS) enabled() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// errOptions is wrapped by every error of Options.Validate.
var errOptions = errors.New("natsbus: invalid options")

// Validate reports the first problem of o.
func (o *Options) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", errOptions, field, fmt.Sprintf(format, args...))
	}
	switch {
	case o.Embedded == nil && len(o.URLs) == 0:
		return bad("Embedded, URLs", "set one: an embedded server or the URLs of a cluster")
	case o.Embedded != nil && len(o.URLs) > 0:
		return bad("Embedded, URLs", "set only one: an embedded server or the URLs of a cluster")
	case o.Embedded != nil && o.Embedded.StoreDir == "":
		return bad("Embedded.StoreDir", "required")
	case o.Embedded != nil && (o.CredsFile != "" || o.User != "" || o.Token != "" || o.NKeySeed != "" || o.TLS.enabled()):
		return bad("CredsFile, User, Token, NKeySeed, TLS", "apply to URLs only, not to an embedded server (its listener's are Embedded.Auth and Embedded.TLS)")
	case o.Embedded != nil && o.Embedded.SyncInterval < 0:
		return bad("Embedded.SyncInterval", "negative")
	}
	if err := o.validateListener(); err != nil {
		return err
	}
	kinds := 0
	for _, set := range []bool{o.CredsFile != "", o.User != "", o.Token != "", o.NKeySeed != ""} {
		if set {
			kinds++
		}
	}
	if kinds > 1 {
		return bad("CredsFile, User, Token, NKeySeed", "set at most one way to authenticate")
	}
	if o.Password != "" && o.User == "" {
		return bad("Password", "needs User")
	}
	if (o.TLS.CertFile == "") != (o.TLS.KeyFile == "") {
		return bad("TLS.CertFile, TLS.KeyFile", "set both or neither")
	}
	if o.Prefix != "" && !validPrefix(o.Prefix) {
		return bad("Prefix", "%q: want 1 to 32 characters of A-Z, a-z, 0-9, '_' and '-'", o.Prefix)
	}
	switch {
	case o.Replicas < 0 || o.Replicas > 5:
		return bad("Replicas", "%d: want 0 (the default) to 5", o.Replicas)
	case o.MaxAge < 0:
		return bad("MaxAge", "negative")
	case o.MaxBytes < 0:
		return bad("MaxBytes", "negative")
	case o.DedupWindow < 0:
		return bad("DedupWindow", "negative")
	case o.MaxAge > 0 && o.DedupWindow > o.MaxAge:
		return bad("DedupWindow", "%v is longer than MaxAge %v", o.DedupWindow, o.MaxAge)
	case o.DeadLetterMaxAge < 0:
		return bad("DeadLetterMaxAge", "negative")
	case o.Queue < 0:
		return bad("Queue", "negative")
	case o.MaxAckPending < 0:
		return bad("MaxAckPending", "negative")
	case o.Refresh < 0:
		return bad("Refresh", "negative")
	case o.MaxDelay < 0:
		return bad("MaxDelay", "negative")
	case o.MaxDelayed < 0:
		return bad("MaxDelayed", "negative")
	}
	return nil
}

// withDefaults returns o with the defaults in place of zero fields
// (Replicas excepted: it depends on the server).
func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.ClientName == "" {
		o.ClientName = "evhost"
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	if o.Queue == 0 {
		o.Queue = DefaultQueue
	}
	if o.MaxAckPending == 0 {
		o.MaxAckPending = DefaultMaxAckPending
	}
	if o.Refresh == 0 {
		o.Refresh = DefaultRefresh
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.MaxAge > 0 && o.MaxDelay > o.MaxAge {
		o.MaxDelay = o.MaxAge
	}
	if o.MaxDelayed == 0 {
		o.MaxDelayed = DefaultMaxDelayed
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Embedded != nil {
		e := *o.Embedded
		if e.SyncInterval == 0 {
			e.SyncInterval = DefaultSyncInterval
		}
		if e.ServerName == "" {
			e.ServerName = "evhost-embedded"
		}
		o.Embedded = &e
	}
	return o
}

func validPrefix(p string) bool {
	if len(p) < 1 || len(p) > 32 {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validateListener checks the listener's settings of an embedded server.
func (o *Options) validateListener() error {
	e := o.Embedded
	if e == nil {
		return nil
	}
	if (e.Auth.enabled() || e.TLS != nil) && e.Listen == "" {
		return fmt.Errorf("%w: Embedded.Auth, Embedded.TLS: apply to a listener: set Embedded.Listen", errOptions)
	}
	if err := e.Auth.validate(); err != nil {
		return fmt.Errorf("%w: Embedded.Auth: %w", errOptions, err)
	}
	if e.TLS != nil && (e.TLS.CertFile == "" || e.TLS.KeyFile == "") {
		return fmt.Errorf("%w: Embedded.TLS: set CertFile and KeyFile", errOptions)
	}
	return nil
}
