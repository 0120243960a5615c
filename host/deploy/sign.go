package deploy

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/evhost/evhost/host/bus/natsbus"
)

// signingContext opens the signed bytes of every release: a signature
// made for something else cannot pass for a release's, and a later
// encoding will change the version.
const signingContext = "evhost release v1\n"

// Errors of Verify, wrapped with context.
var (
	// ErrUnsigned: the release carries no signature.
	ErrUnsigned = errors.New("deploy: the release is not signed")
	// ErrBadSignature: no trusted key made the release's signature.
	ErrBadSignature = errors.New("deploy: the release's signature is not made by a trusted key")
)

// SignedBytes returns the canonical encoding of a release that its
// signature covers: the context line, then the fields base, note,
// modules (their count, then each plugin's name and digest, sorted by
// name) and config, each as
//
//	<name> <decimal length of value>\n<value>\n
//
// where a number's value is its decimal digits. Lengths make the encoding
// unambiguous whatever the values hold (a note or a config with newlines).
// The revision and the time are the store's and are not covered.
func SignedBytes(r natsbus.Release) []byte {
	b := []byte(signingContext)
	field := func(name, value string) {
		b = append(b, name...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(len(value)), 10)
		b = append(b, '\n')
		b = append(b, value...)
		b = append(b, '\n')
	}
	field("base", strconv.FormatUint(r.Base, 10))
	field("note", r.Note)
	names := make([]string, 0, len(r.Modules))
	for name := range r.Modules {
		names = append(names, name)
	}
	slices.Sort(names)
	field("modules", strconv.Itoa(len(names)))
	for _, name := range names {
		field("plugin", name)
		field("digest", r.Modules[name])
	}
	field("config", string(r.Config))
	return b
}

// Sign sets r's signature, made with key.
func Sign(r *natsbus.Release, key ed25519.PrivateKey) {
	r.Signature = ed25519.Sign(key, SignedBytes(*r))
}

// Verify checks that one of keys signed r.
func Verify(r natsbus.Release, keys []ed25519.PublicKey) error {
	if len(r.Signature) == 0 {
		return ErrUnsigned
	}
	if len(r.Signature) != ed25519.SignatureSize {
		return fmt.Errorf("%w (%d bytes, an Ed25519 signature has %d)", ErrBadSignature, len(r.Signature), ed25519.SignatureSize)
	}
	msg := SignedBytes(r)
	for _, k := range keys {
		if ed25519.Verify(k, msg, r.Signature) {
			return nil
		}
	}
	return fmt.Errorf("%w (%d trusted in [deploy] public_keys)", ErrBadSignature, len(keys))
}
