package httpapi

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// TLSFiles name the PEM files of the listener's TLS: its certificate chain
// and key, and optionally the CAs whose certificates clients must present
// (mutual TLS).
type TLSFiles struct {
	CertFile, KeyFile string
	// ClientCAFile, when set, makes a client certificate signed by one of
	// its CAs a condition of the handshake.
	ClientCAFile string
	// Logger is told when the files are re-read, and why a new set is
	// refused; nil discards.
	Logger *slog.Logger
}

// NewTLSConfig returns the TLS configuration of a listener serving with
// the certificate of files, re-read whenever one of the files changes
// (its modification time or size), without a restart: each handshake
// looks at the files, and the first after a change loads them again. A
// set that does not load (a certificate whose key is not written yet, a
// truncated file) is refused with a log line and the previous one keeps
// serving. It returns an error if the files do not load now.
func NewTLSConfig(files TLSFiles) (*tls.Config, error) {
	if files.CertFile == "" || files.KeyFile == "" {
		return nil, errors.New("httpapi: TLS needs a certificate file and a key file")
	}
	if files.Logger == nil {
		files.Logger = slog.New(slog.DiscardHandler)
	}
	r := &tlsReloader{files: files, log: files.Logger.With(slog.String("component", "http"))}
	cfg, stamps, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cfg, r.stamps = cfg, stamps
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: r.configForClient,
	}, nil
}

// tlsReloader holds the configuration loaded from the files and the
// stamps of the files it was loaded from.
type tlsReloader struct {
	files TLSFiles
	log   *slog.Logger

	mu     sync.Mutex
	cfg    *tls.Config
	stamps []fileStamp // of the files of cfg
	tried  []fileStamp // of the last set refused, so that it is logged once
}

// fileStamp is what tells that a file changed.
type fileStamp struct {
	mod  time.Time
	size int64
}

func (r *tlsReloader) paths() []string {
	p := []string{r.files.CertFile, r.files.KeyFile}
	if r.files.ClientCAFile != "" {
		p = append(p, r.files.ClientCAFile)
	}
	return p
}

// stat returns the stamps of the files, or an error for one that is gone.
func (r *tlsReloader) stat() ([]fileStamp, error) {
	var out []fileStamp
	for _, p := range r.paths() {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		out = append(out, fileStamp{fi.ModTime(), fi.Size()})
	}
	return out, nil
}

// load reads the files into a configuration, with the stamps they had
// before they were read (a change during the read is seen next time).
func (r *tlsReloader) load() (*tls.Config, []fileStamp, error) {
	stamps, err := r.stat()
	if err != nil {
		return nil, nil, fmt.Errorf("httpapi: TLS: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.files.CertFile, r.files.KeyFile)
	if err != nil {
		return nil, stamps, fmt.Errorf("httpapi: TLS certificate %s with key %s: %w", r.files.CertFile, r.files.KeyFile, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	if r.files.ClientCAFile != "" {
		pem, err := os.ReadFile(r.files.ClientCAFile)
		if err != nil {
			return nil, stamps, fmt.Errorf("httpapi: TLS client CAs: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, stamps, fmt.Errorf("httpapi: TLS client CAs: no PEM certificate in %s", r.files.ClientCAFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, stamps, nil
}

// configForClient returns the configuration of the files as they are,
// loading them again if they changed.
func (r *tlsReloader) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamps, err := r.stat()
	if err != nil || equalStamps(stamps, r.stamps) || equalStamps(stamps, r.tried) {
		return r.cfg, nil // a file missing for a moment (being replaced): serve the old set
	}
	cfg, stamps, err := r.load()
	if err != nil {
		r.tried = stamps
		r.log.Warn("TLS files changed but do not load; the previous certificate keeps serving", slog.Any("error", err))
		return r.cfg, nil
	}
	r.cfg, r.stamps, r.tried = cfg, stamps, nil
	r.log.Info("TLS files re-read", slog.String("cert_file", r.files.CertFile),
		slog.String("client_ca_file", r.files.ClientCAFile))
	return r.cfg, nil
}

func equalStamps(a, b []fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].mod.Equal(b[i].mod) || a[i].size != b[i].size {
			return false
		}
	}
	return true
}
