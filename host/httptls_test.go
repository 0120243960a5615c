package host_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority made by a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial int64 = 100

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key := newKey(t)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns the PEM certificate and key of a leaf signed by ca: a
// server certificate for 127.0.0.1, or a client certificate.
func (ca *testCA) issue(t *testing.T, name string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key := newKey(t)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// replace writes data to path as a certificate tool does: a new file
// renamed over the old one. Its modification time is set apart from the
// old one's, so that a file system with coarse timestamps cannot hide
// the change.
func replace(t *testing.T, path string, data []byte, mtime time.Time) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// tlsClient returns a client that trusts roots and presents cert (if
// any), with a new connection (a new handshake) for each request.
func tlsClient(t *testing.T, roots *testCA, certPEM, keyPEM []byte) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(roots.cert)
	cfg := &tls.Config{RootCAs: pool}
	if certPEM != nil {
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 10 * time.Second}
}

// served returns the serial of the certificate the server at base
// presents, and the status of GET /healthz.
func served(t *testing.T, c *http.Client, base string) (int64, int, error) {
	t.Helper()
	res, err := c.Get(base + "/healthz")
	if err != nil {
		return 0, 0, err
	}
	res.Body.Close()
	return res.TLS.PeerCertificates[0].SerialNumber.Int64(), res.StatusCode, nil
}

// The listener serves HTTPS with the certificate of [host.tls], and a
// certificate replaced on disk is served from the next connection on,
// without a restart; a half-written replacement keeps the old one.
func TestHTTPSCertificateReloads(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "test CA")
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert1, key1 := ca.issue(t, "evhost one", true)
	t0 := time.Now().Add(-time.Hour)
	replace(t, certFile, cert1, t0)
	replace(t, keyFile, key1, t0)
	_, base := serveConfig(t, fmt.Sprintf("[host.tls]\ncert_file = %q\nkey_file = %q\n", certFile, keyFile), "", nil)
	base = strings.Replace(base, "http://", "https://", 1)
	client := tlsClient(t, ca, nil, nil)

	sn1, status, err := served(t, client, base)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /healthz over TLS: %d %v", status, err)
	}
	if res, err := http.Get(strings.Replace(base, "https://", "http://", 1) + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP was served")
		}
	}

	// A new certificate whose key is not written yet: the old pair serves.
	cert2, key2 := ca.issue(t, "evhost two", true)
	replace(t, certFile, cert2, t0.Add(time.Minute))
	if sn, _, err := served(t, client, base); err != nil || sn != sn1 {
		t.Fatalf("with the key not yet replaced: serial %d (%v), want the old %d", sn, err, sn1)
	}
	replace(t, keyFile, key2, t0.Add(time.Minute))
	sn2, status, err := served(t, client, base)
	if err != nil || status != http.StatusOK || sn2 == sn1 {
		t.Fatalf("after replacing the files: serial %d (was %d), status %d, %v", sn2, sn1, status, err)
	}
}

// With client_ca_file, a client must present a certificate that one of
// its CAs signed; the CA file is re-read when it changes too.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA, otherCA := newCA(t, "server CA"), newCA(t, "client CA"), newCA(t, "other CA")
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "clients.pem")
	cert, key := serverCA.issue(t, "evhost", true)
	t0 := time.Now().Add(-time.Hour)
	replace(t, certFile, cert, t0)
	replace(t, keyFile, key, t0)
	replace(t, caFile, clientCA.pem, t0)
	_, base := serveConfig(t, fmt.Sprintf("[host.tls]\ncert_file = %q\nkey_file = %q\nclient_ca_file = %q\n", certFile, keyFile, caFile), "", nil)
	base = strings.Replace(base, "http://", "https://", 1)

	goodCert, goodKey := clientCA.issue(t, "producer", false)
	otherCert, otherKey := otherCA.issue(t, "intruder", false)
	if _, _, err := served(t, tlsClient(t, serverCA, nil, nil), base); err == nil {
		t.Error("a client without a certificate was served")
	}
	if _, _, err := served(t, tlsClient(t, serverCA, otherCert, otherKey), base); err == nil {
		t.Error("a client with a certificate of another CA was served")
	}
	if _, status, err := served(t, tlsClient(t, serverCA, goodCert, goodKey), base); err != nil || status != http.StatusOK {
		t.Fatalf("a client with a good certificate: %d %v", status, err)
	}

	// The operator now trusts the other CA instead.
	replace(t, caFile, otherCA.pem, t0.Add(time.Minute))
	if _, _, err := served(t, tlsClient(t, serverCA, goodCert, goodKey), base); err == nil {
		t.Error("a certificate of the CA no longer trusted was served")
	}
	if _, status, err := served(t, tlsClient(t, serverCA, otherCert, otherKey), base); err != nil || status != http.StatusOK {
		t.Fatalf("a certificate of the CA now trusted: %d %v", status, err)
	}
}
