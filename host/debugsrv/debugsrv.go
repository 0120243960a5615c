package debugsrv

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Handler returns the profiles' mux: /debug/pprof/ (the index, cmdline,
// profile, symbol, trace and every named profile: heap, goroutine, allocs,
// block, mutex, threadcreate) and /debug/vars (expvar). Any other path is
// a 404.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /debug/vars", expvar.Handler())
	return mux
}

// Start serves h on addr until stop is called; with addr "" it serves
// nothing and stop does nothing. The listener is bound before it returns,
// so that a port in use is an error of the caller's start. A CPU profile
// or a trace runs for the seconds its request asks (30 by default): the
// server's write timeout leaves room for 5 minutes.
func Start(addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return func() {}, fmt.Errorf("debugsrv: [host] debug_listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 5*time.Minute + 10*time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("debugsrv: serving the profiles", "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("serving the profiles (pprof, expvar)", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close() // a profile in progress: cut it
		}
		<-done
	}, nil
}
