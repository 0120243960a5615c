package config

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Deploy is the [deploy] table: what a daemon in deploy mode (evhost run
// --from-deploy) trusts of a release. It is the daemon's own: a release
// never carries it.
type Deploy struct {
	// PublicKeys verify the signatures of releases (key public_keys: each
	// the base64 of an Ed25519 public key in its DER form, the line
	// between the PEM armour of `openssl pkey -pubout`, or the whole PEM
	// text). A release signed by none of them is refused; so is every
	// release when there are none.
	PublicKeys []ed25519.PublicKey
	// AllowEnv are the environment variables that a release may read
	// through its *_env keys (key allow_env); none by default.
	AllowEnv []string
	// AllowFiles are the files that a release may read through its *_file
	// keys (key allow_files: paths, or patterns of filepath.Match, resolved
	// against this config's directory); none by default.
	AllowFiles []string
}

// ReleasePolicy limits what the config text of a release may read from the
// daemon: only the environment variables and files its own [deploy] table
// allows. Use it with ParseRelease.
type ReleasePolicy struct {
	AllowEnv   []string
	AllowFiles []string // resolved, cleaned paths or patterns
}

// Policy returns the release policy of the daemon's [deploy] table.
func (d *Deploy) Policy() *ReleasePolicy {
	return &ReleasePolicy{AllowEnv: d.AllowEnv, AllowFiles: d.AllowFiles}
}

// ParseRelease decodes the config text of a release as ParseIn does, but
// a *_env or *_file key that names a variable or a file the policy does
// not allow is an error (ErrInvalid): the release cannot read the
// daemon's other secrets.
func ParseRelease(name, dir string, data []byte, policy *ReleasePolicy) (*Config, error) {
	if policy == nil {
		policy = &ReleasePolicy{}
	}
	return parseWith(name, dir, data, policy)
}

// envAllowed reports an error when the policy (if any) refuses variable name.
func (d *decoder) envAllowed(name string) error {
	if d.policy == nil || slices.Contains(d.policy.AllowEnv, name) {
		return nil
	}
	return newProblem(ErrInvalid, "environment variable %s is not in this daemon's [deploy] allow_env: a release may read only those", name)
}

// fileAllowed reports an error when the policy (if any) refuses the file
// at path (as written; resolved against the daemon's config directory).
func (d *decoder) fileAllowed(path string) error {
	if d.policy == nil {
		return nil
	}
	full := filepath.Clean(d.resolve(path))
	for _, pat := range d.policy.AllowFiles {
		if ok, _ := filepath.Match(pat, full); ok || pat == full {
			return nil
		}
	}
	return newProblem(ErrInvalid, "file %q is not in this daemon's [deploy] allow_files: a release may read only those", path)
}

func (d *decoder) envSecret(name string) (Secret, error) {
	if err := d.envAllowed(name); err != nil {
		return Secret{}, err
	}
	return readEnvSecret(name)
}

func (d *decoder) fileSecret(path string) (Secret, error) {
	if err := d.fileAllowed(path); err != nil {
		return Secret{}, err
	}
	return readFileSecret(path, d.resolve)
}

// deploy decodes the [deploy] table.
func (d *decoder) deploy(c *Config, t *table, dp *Deploy) {
	var keys []string
	if t.strings("public_keys", &keys) {
		path := keyPath(t.path, "public_keys")
		for i, s := range keys {
			k, err := ParsePublicKey(s)
			if err != nil {
				d.fail(indexPath(path, i), false, wrapProblem(ErrInvalid, err, "invalid public key"))
				continue
			}
			dp.PublicKeys = append(dp.PublicKeys, k)
		}
	}
	t.strings("allow_env", &dp.AllowEnv)
	if t.strings("allow_files", &dp.AllowFiles) {
		for i, f := range dp.AllowFiles {
			dp.AllowFiles[i] = filepath.Clean(c.Resolve(f))
		}
	}
	t.done()
}

// ParsePublicKey decodes an Ed25519 public key: the base64 of its DER form
// (SubjectPublicKeyInfo, as `openssl pkey -pubout -outform DER` writes
// it; the one line of the PEM form), the PEM text itself, or the base64 of
// the 32 raw bytes.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	var der []byte
	if blk, _ := pem.Decode([]byte(s)); blk != nil {
		der = blk.Bytes
	} else {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("neither PEM nor base64: %w", err)
		}
		if len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
		der = b
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an Ed25519 key", k)
	}
	return pub, nil
}

// LoadPrivateKey reads an Ed25519 private key from a PEM file in PKCS #8
// form ("PRIVATE KEY"), as `openssl genpkey -algorithm ed25519` writes it.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, fmt.Errorf("signing key %s: not PEM (make one with: openssl genpkey -algorithm ed25519 -out %s)", path, filepath.Base(path))
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s: a %T, not an Ed25519 key", path, k)
	}
	return priv, nil
}
