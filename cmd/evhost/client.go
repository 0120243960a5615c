package main

// The client of a running daemon's HTTP API that the client commands
// (dlq, trace, webhooks, replay, plugins) share: its flags, requests and
// the exit codes of its refusals. The answers decode into host/api's
// types.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/evhost/evhost/host/config"
)

// daemonFlags are the flags of a command that talks to a running daemon.
type daemonFlags struct {
	config, addr, token *string
	timeout             *time.Duration
}

func addDaemonFlags(fs *flag.FlagSet) daemonFlags {
	return daemonFlags{
		config:  fs.String("config", "config.toml", "config file to take --addr and --token defaults from (optional)"),
		addr:    fs.String("addr", "", "address of the daemon (default: [host] listen of the config, or 127.0.0.1:8080)"),
		token:   fs.String("token", "", "API bearer token (default: the config's, or $EVHOST_TOKEN)"),
		timeout: fs.Duration("timeout", 10*time.Second, "how long to wait for the daemon"),
	}
}

// apiClient is a client of a daemon's HTTP API; name prefixes its messages.
type apiClient struct {
	name, addr, base, token string
	timeout                 time.Duration
	e                       *env
}

// client resolves the flags' defaults as publish does: the flags, then the
// config file if there is one, then $EVHOST_TOKEN and 127.0.0.1:8080.
func (f daemonFlags) client(e *env, fs *flag.FlagSet, name string) (*apiClient, bool) {
	addr, token := *f.addr, *f.token
	if cfg, err := config.Load(*f.config); err == nil {
		if addr == "" {
			addr = cfg.Host.Listen
		}
		if token == "" && cfg.Host.Token.IsSet() {
			token = cfg.Host.Token.Value()
		}
	} else if !errors.Is(err, os.ErrNotExist) && flagSet(fs, "config") {
		fprintf(e.stderr, "%v\n", err)
		return nil, false
	}
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	if token == "" {
		token = os.Getenv("EVHOST_TOKEN")
	}
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &apiClient{name: name, addr: addr, base: strings.TrimRight(base, "/"), token: token, timeout: *f.timeout, e: e}, true
}

// do sends a request without a body and returns the response's status and
// body. On a failure to get a response it prints why and returns the exit
// code (ok false).
func (d *apiClient) do(ctx context.Context, method, path string) (resp *http.Response, body []byte, code int, ok bool) {
	return d.send(ctx, method, path, "", nil)
}

// send is do with a request body of content type ct, when reqBody is not nil.
func (d *apiClient) send(ctx context.Context, method, path, ct string, reqBody []byte) (resp *http.Response, body []byte, code int, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var r io.Reader
	if reqBody != nil {
		r = bytes.NewReader(reqBody)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, r)
	if err != nil {
		fprintf(d.e.stderr, "%s: %v\n", d.name, err)
		return nil, nil, exitUsage, false
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) || errors.Is(err, context.DeadlineExceeded) {
			fprintf(d.e.stderr, "%s: no daemon answered at %s: %v\n", d.name, d.addr, err)
			return nil, nil, exitUnreachble, false
		}
		fprintf(d.e.stderr, "%s: %v\n", d.name, err)
		return nil, nil, exitError, false
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		fprintf(d.e.stderr, "%s: reading the response of %s %s: %v\n", d.name, method, path, err)
		return nil, nil, exitError, false
	}
	return resp, body, exitOK, true
}

// refused prints the error of a response that is not a success, prefixed
// by what, and returns its exit code, as publish maps them.
func (d *apiClient) refused(what string, resp *http.Response, body []byte) int {
	msg := string(bytes.TrimSpace(body))
	var er struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &er) == nil && er.Error != "" {
		msg = er.Error
	}
	if what != "" {
		what += ": "
	}
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized:
		fprintf(d.e.stderr, "%s: %sunauthorized: set --token, the config's token, or $EVHOST_TOKEN\n", d.name, what)
		return exitAuth
	case s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable:
		fprintf(d.e.stderr, "%s: %sthe daemon is busy (%s, Retry-After %s): %s\n", d.name, what, resp.Status, resp.Header.Get("Retry-After"), msg)
		return exitRetry
	case s >= 400 && s < 500:
		fprintf(d.e.stderr, "%s: %srefused (%s): %s\n", d.name, what, resp.Status, msg)
		return exitRejected
	default:
		fprintf(d.e.stderr, "%s: %s%s: %s\n", d.name, what, resp.Status, msg)
		return exitError
	}
}
