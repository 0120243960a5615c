package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
)

// pemPair writes a certificate (a CA when ca is nil, else signed by ca)
// and its key into dir and returns their paths and the parsed certificate.
func pemPair(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, server bool) (certFile, keyFile string, cert *x509.Certificate, key *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	parent, signer := tmpl, key
	switch {
	case ca == nil:
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = nil
	default:
		parent, signer = ca, caKey
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile, cert, key
}

// The client commands talk to a daemon that serves HTTPS and requires a
// client certificate: https when the config has [host.tls], trusting its
// CA (--cacert), presenting --client-cert and --client-key.
func TestClientCommandsOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, _, ca, caKey := pemPair(t, dir, "ca", nil, nil, false)
	pemPair(t, dir, "server", ca, caKey, true)
	clientCert, clientKey, _, _ := pemPair(t, dir, "client", ca, caKey, false)
	cfgPath := filepath.Join(dir, "config.toml")
	text := "[host]\ndata_dir = \"data\"\ntoken = \"s3cret\"\n[host.tls]\ncert_file = \"server.pem\"\nkey_file = \"server-key.pem\"\nclient_ca_file = \"ca.pem\"\n[broker]\nkind = \"memory\"\n"
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveHost(t, h)
	list := []string{"subscriptions", "list", "--config", cfgPath, "--addr", addr, "--cacert", caFile}
	if code, _, stderr := runCLI(list...); code == exitOK {
		t.Fatalf("served without a client certificate: %s", stderr)
	}
	if code, stdout, stderr := runCLI(append(list, "--client-cert", clientCert, "--client-key", clientKey)...); code != exitOK || !strings.Contains(stdout, "NAME") {
		t.Fatalf("with a client certificate: exit %d, %s %s", code, stdout, stderr)
	}
}
