package deploy

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/evhost/evhost/host/bus/natsbus"
)

// The canonical encoding is fixed: a change breaks every signature made
// before it, so it must come with a new context line.
func TestSignedBytes(t *testing.T) {
	r := natsbus.Release{Revision: 9, Base: 7, Note: "why\nnot", Config: []byte("a = 1\n"),
		Modules: map[string]string{"b": "22", "a": "11"}}
	want := "evhost release v1\nbase 1\n7\nnote 7\nwhy\nnot\nmodules 1\n2\nplugin 1\na\ndigest 2\n11\nplugin 1\nb\ndigest 2\n22\nconfig 6\na = 1\n\n"
	if got := string(SignedBytes(r)); got != want {
		t.Fatalf("SignedBytes:\n%q\nwant\n%q", got, want)
	}
}

func TestVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	base := natsbus.Release{Revision: 3, Base: 2, Note: "n", Config: []byte("x"), Modules: map[string]string{"p": "d"}}
	if err := Verify(base, []ed25519.PublicKey{pub}); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned: %v", err)
	}
	signed := base
	Sign(&signed, key)
	if err := Verify(signed, []ed25519.PublicKey{other, pub}); err != nil {
		t.Fatalf("signed: %v", err)
	}
	signed.Revision = 99 // not covered: the store's
	if err := Verify(signed, []ed25519.PublicKey{pub}); err != nil {
		t.Fatalf("another revision: %v", err)
	}
	for name, change := range map[string]func(*natsbus.Release){
		"base":    func(r *natsbus.Release) { r.Base = 1 },
		"note":    func(r *natsbus.Release) { r.Note = "m" },
		"config":  func(r *natsbus.Release) { r.Config = []byte("y") },
		"digest":  func(r *natsbus.Release) { r.Modules = map[string]string{"p": "e"} },
		"plugin":  func(r *natsbus.Release) { r.Modules = map[string]string{"q": "d"} },
		"another": func(r *natsbus.Release) { r.Modules = map[string]string{"p": "d", "q": "d"} },
	} {
		r := signed
		change(&r)
		if err := Verify(r, []ed25519.PublicKey{pub}); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s changed: %v", name, err)
		}
	}
	if err := Verify(signed, []ed25519.PublicKey{other}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("untrusted key: %v", err)
	}
}
