package natsbus

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startServer starts the embedded server and waits until it is ready, or
// until ctx is done.
// With e.Auth set, it also returns the token of this process's own
// connections.
func startServer(ctx context.Context, e *Embedded, log *slog.Logger) (*server.Server, string, error) {
	so := &server.Options{
		ServerName:        e.ServerName,
		JetStream:         true,
		StoreDir:          e.StoreDir,
		SyncInterval:      e.SyncInterval,
		SyncAlways:        e.SyncAlways,
		JetStreamMaxStore: e.MaxStore,
		DontListen:        e.Listen == "",
		NoSigs:            true,
		// Monitoring, clustering, leaf nodes and websockets stay off.
	}
	if e.MaxStore == 0 {
		so.JetStreamMaxStore = -1
	}
	if e.Listen != "" {
		host, port, err := net.SplitHostPort(e.Listen)
		if err != nil {
			return nil, "", fmt.Errorf("natsbus: embedded server: listen address %q: %w", e.Listen, err)
		}
		so.Host = host
		if so.Port, err = strconv.Atoi(port); err != nil {
			return nil, "", fmt.Errorf("natsbus: embedded server: listen address %q: bad port", e.Listen)
		}
		if so.Port == 0 {
			so.Port = server.RANDOM_PORT
		}
	}
	internal, err := secureListener(so, e)
	if err != nil {
		return nil, "", err
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, "", fmt.Errorf("natsbus: embedded server: %w", err)
	}
	srv.SetLoggerV2(serverLog{log.With(slog.String("component", "nats-server"))}, false, false, false)
	srv.Start()
	// Starting replays the stored streams; with a million events inside
	// the dedup window it takes seconds.
	wait := time.Minute
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d)
	}
	if !srv.ReadyForConnections(wait) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, "", fmt.Errorf("natsbus: embedded server in %s: not ready after %v", e.StoreDir, wait.Round(time.Millisecond))
	}
	return srv, internal, nil
}

// secureListener sets the authentication and TLS of the listener in so,
// and returns the token of this process's own connections ("" when the
// listener requires no credentials).
func secureListener(so *server.Options, e *Embedded) (string, error) {
	if e.TLS != nil {
		cfg, err := e.TLS.tlsConfig()
		if err != nil {
			return "", err
		}
		so.TLS, so.TLSConfig, so.TLSVerify = true, cfg, e.TLS.ClientCAFile != ""
		so.TLSTimeout = 2
	}
	if !e.Auth.enabled() {
		return "", nil
	}
	a, err := newListenAuth(e.Auth)
	if err != nil {
		return "", err
	}
	so.CustomClientAuthentication = a
	so.AlwaysEnableNonce = e.Auth.NKey != ""
	return a.internal, nil
}

// serverLog passes the embedded server's warnings and errors to slog; its
// notices go to the debug level (they announce its start and stop).
type serverLog struct{ l *slog.Logger }

func (s serverLog) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLog) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s serverLog) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLog) Errorf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLog) Debugf(format string, v ...any)  {}
func (s serverLog) Tracef(format string, v ...any)  {}
