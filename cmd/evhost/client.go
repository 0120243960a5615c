package main

// The client of a running daemon's HTTP API that the client commands
// (dlq, trace, webhooks, replay, plugins) share: its flags, requests and
// the exit codes of its refusals. The answers decode into host/api's
// types.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
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
	config, addr, token   *string
	cacert, cert, certKey *string
	timeout               *time.Duration
}

func addDaemonFlags(fs *flag.FlagSet) daemonFlags {
	return daemonFlags{
		config:  fs.String("config", "config.toml", "config file to take --addr and --token defaults from (optional)"),
		addr:    fs.String("addr", "", "address of the daemon (default: [host] listen of the config, or 127.0.0.1:8080)"),
		token:   fs.String("token", "", "API bearer token (default: the config's, or $EVHOST_TOKEN)"),
		timeout: fs.Duration("timeout", 10*time.Second, "how long to wait for the daemon"),
		cacert:  fs.String("cacert", "", "PEM file of the CA (or the certificate) to trust for an https daemon (default: the config's [host.tls] cert_file, else the system's roots)"),
		cert:    fs.String("client-cert", "", "PEM client certificate, for a daemon that requires one ([host.tls] client_ca_file)"),
		certKey: fs.String("client-key", "", "PEM key of --client-cert"),
	}
}

// apiClient is a client of a daemon's HTTP API; name prefixes its messages.
type apiClient struct {
	name, addr, base, token string
	timeout                 time.Duration
	http                    *http.Client
	e                       *env
}

// client resolves the flags' defaults as publish does: the flags, then the
// config file if there is one, then $EVHOST_TOKEN and 127.0.0.1:8080.
func (f daemonFlags) client(e *env, fs *flag.FlagSet, name string) (*apiClient, bool) {
	addr, token, cacert := *f.addr, *f.token, *f.cacert
	tlsOn := false
	if cfg, err := config.Load(*f.config); err == nil {
		if addr == "" {
			addr = cfg.Host.Listen
		}
		if token == "" && cfg.Host.Token.IsSet() {
			token = cfg.Host.Token.Value()
		}
		if cfg.Host.TLS.Enabled() {
			tlsOn = true
			if cacert == "" {
				cacert = cfg.Host.TLS.CertFile
			}
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
		scheme := "http://"
		if tlsOn || *f.cacert != "" || *f.cert != "" {
			scheme = "https://"
		}
		base = scheme + base
	}
	hc, err := httpClient(cacert, *f.cert, *f.certKey)
	if err != nil {
		fprintf(e.stderr, "%s: %v\n", name, err)
		return nil, false
	}
	return &apiClient{name: name, addr: addr, base: strings.TrimRight(base, "/"), token: token, timeout: *f.timeout, http: hc, e: e}, true
}

// httpClient returns the client of a daemon: http.DefaultClient, or one
// that trusts the PEM certificates of cacert (a CA, or the daemon's own
// self-signed certificate) and presents the client certificate cert and
// key.
func httpClient(cacert, cert, key string) (*http.Client, error) {
	if cacert == "" && cert == "" {
		return http.DefaultClient, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cacert != "" {
		pem, err := os.ReadFile(cacert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate in it", cacert)
		}
		tc.RootCAs = pool
	}
	if cert != "" || key != "" {
		if cert == "" || key == "" {
			return nil, errors.New("--client-cert and --client-key go together")
		}
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("--client-cert, --client-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr}, nil
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
	resp, err = d.http.Do(req)
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

// getList is the body of a `... list` command: it parses the daemon flags
// and --json, GETs path from the daemon, and prints the answer as it is
// with --json, or decodes it into dst (what, as "a list of schedules",
// names it in the error) for the caller's table. done is true when the
// command has ended, with code: usage, an unreachable or refusing daemon,
// --json printed, or an answer that is not what.
func getList(ctx context.Context, args []string, e *env, name, about, path, what string, dst any) (code int, done bool) {
	fs := newFlags(e, name, "", about)
	df := addDaemonFlags(fs)
	asJSON := fs.Bool("json", false, "print the API's JSON instead of a table")
	if code, ok := parse(fs, args); !ok {
		return code, true
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return exitUsage, true
	}
	d, ok := df.client(e, fs, "evhost "+name)
	if !ok {
		return exitError, true
	}
	resp, body, code, ok := d.do(ctx, http.MethodGet, path)
	if !ok {
		return code, true
	}
	if resp.StatusCode != http.StatusOK {
		return d.refused("", resp, body), true
	}
	if *asJSON {
		fprintf(e.stdout, "%s\n", bytes.TrimSpace(body))
		return exitOK, true
	}
	if err := json.Unmarshal(body, dst); err != nil {
		fprintf(e.stderr, "evhost %s: the daemon's answer is not %s: %v\n", name, what, err)
		return exitError, true
	}
	return exitOK, false
}
