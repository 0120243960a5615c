package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/evhost/evhost/host/bus/natsbus"
)

// maxSmallFile bounds the manifest, a stream's metadata and the error
// entry of a backup's tar; only the snapshots themselves are unbounded.
const maxSmallFile = 4 << 20

// Write reads the tar that POST /v1/admin/backup answers from r and writes
// it into dir, which must not exist or be empty: into a directory beside
// it first, renamed to dir once every file is written, synced and checked
// against the manifest. Nothing is left behind on a failure.
func Write(r io.Reader, dir string) (_ *Manifest, err error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("backup: %s exists and is not empty", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("backup: %w", err)
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".partial-*")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	var m *Manifest
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("backup: reading the daemon's answer: %w", err)
		}
		if m != nil {
			return nil, fmt.Errorf("backup: the daemon's answer has %q after the manifest", hdr.Name)
		}
		name := hdr.Name
		if hdr.Typeflag != tar.TypeReg || !plainName(name) {
			return nil, fmt.Errorf("backup: the daemon's answer has an entry %q that is not a plain file name", name)
		}
		switch {
		case name == errorFile:
			b, _ := io.ReadAll(io.LimitReader(tr, maxSmallFile))
			return nil, fmt.Errorf("backup: the daemon failed: %s", strings.TrimSpace(string(b)))
		case name == ManifestFile:
			b, err := readSmall(tr, name)
			if err != nil {
				return nil, err
			}
			m = new(Manifest)
			if err := json.Unmarshal(b, m); err != nil {
				return nil, fmt.Errorf("backup: the manifest: %w", err)
			}
			if err := writeFile(filepath.Join(tmp, name), bytes.NewReader(b)); err != nil {
				return nil, err
			}
		case strings.HasSuffix(name, ".json"):
			b, err := readSmall(tr, name)
			if err != nil {
				return nil, err
			}
			if err := writeFile(filepath.Join(tmp, name), bytes.NewReader(b)); err != nil {
				return nil, err
			}
		case strings.HasSuffix(name, ".snap"):
			if err := writeFile(filepath.Join(tmp, name), tr); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("backup: the daemon's answer has an unexpected entry %q", name)
		}
	}
	if m == nil {
		return nil, errors.New("backup: the daemon's answer ended before the manifest: the backup is incomplete")
	}
	if _, err := Read(tmp); err != nil {
		return nil, err
	}
	if err := syncDir(tmp); err != nil {
		return nil, err
	}
	os.Remove(dir) // empty, or absent
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return m, syncDir(filepath.Dir(dir))
}

// plainName reports whether name is a file name with no directory.
func plainName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`) && filepath.Base(name) == name
}

func readSmall(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxSmallFile+1))
	if err != nil {
		return nil, fmt.Errorf("backup: reading %s: %w", name, err)
	}
	if len(b) > maxSmallFile {
		return nil, fmt.Errorf("backup: %s is over %d bytes", name, maxSmallFile)
	}
	return b, nil
}

// writeFile writes a new file at path from r, synced.
func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: writing %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("backup: sync %s: %w", dir, err)
	}
	return nil
}

// Read reads the manifest of the backup in dir and checks every file it
// names: present, of its size and SHA-256 digest, and the metadata of the
// stream it says.
func Read(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("backup: %w (is %s a backup directory?)", err, dir)
	}
	m := new(Manifest)
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("backup: %s: %w", filepath.Join(dir, ManifestFile), err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("backup: %s: format %q, this evhost reads %q", dir, m.Format, Format)
	}
	seen := map[string]bool{}
	for _, s := range m.Streams {
		if seen[s.Name] || !plainName(s.Meta) || !plainName(s.Data) || s.Meta == ManifestFile || s.Data == ManifestFile {
			return nil, fmt.Errorf("backup: %s: the manifest's entry of stream %q is invalid", dir, s.Name)
		}
		seen[s.Name] = true
		meta, err := os.ReadFile(filepath.Join(dir, s.Meta))
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		if d := sha256.Sum256(meta); hex.EncodeToString(d[:]) != s.MetaSHA256 {
			return nil, fmt.Errorf("backup: %s does not match the manifest's digest: the backup is damaged", filepath.Join(dir, s.Meta))
		}
		if info, err := natsbus.DescribeSnapshot(meta); err != nil || info.Stream != s.Name {
			return nil, fmt.Errorf("backup: %s is not the metadata of stream %s", filepath.Join(dir, s.Meta), s.Name)
		}
		n, sum, err := digest(filepath.Join(dir, s.Data))
		if err != nil {
			return nil, err
		}
		if n != s.DataBytes || sum != s.DataSHA256 {
			return nil, fmt.Errorf("backup: %s does not match the manifest's size and digest: the backup is damaged", filepath.Join(dir, s.Data))
		}
	}
	return m, nil
}

func digest(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("backup: reading %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// Restore checks the backup in dir (Read) and restores each of its streams
// into the broker of snaps, whose prefix must be the backup's. It changes
// nothing when the broker holds any of the backup's streams already: a
// restore creates streams and never merges into one. progress, if set, is
// called after each stream.
func Restore(ctx context.Context, dir string, snaps *natsbus.Snapshots, progress func(Stream)) (*Manifest, error) {
	m, err := Read(dir)
	if err != nil {
		return nil, err
	}
	if m.Prefix != snaps.Prefix() {
		return nil, fmt.Errorf("backup: %s holds the streams of prefix %q, the broker's is %q ([broker] prefix): nothing restored", dir, m.Prefix, snaps.Prefix())
	}
	var there []string
	for _, s := range m.Streams {
		ok, err := snaps.Exists(ctx, s.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			there = append(there, s.Name)
		}
	}
	if len(there) > 0 {
		return nil, fmt.Errorf("backup: the broker already holds %s: a restore goes into a broker without evhost's streams (a fresh data directory, the daemon stopped); nothing restored",
			strings.Join(there, ", "))
	}
	var done []string
	for _, s := range m.Streams {
		if err := restoreOne(ctx, dir, s, snaps); err != nil {
			if len(done) > 0 {
				err = fmt.Errorf("%w (restored before it: %s; start again on a fresh data directory)", err, strings.Join(done, ", "))
			}
			return nil, err
		}
		done = append(done, s.Name)
		if progress != nil {
			progress(s)
		}
	}
	return m, nil
}

func restoreOne(ctx context.Context, dir string, s Stream, snaps *natsbus.Snapshots) error {
	meta, err := os.ReadFile(filepath.Join(dir, s.Meta))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f, err := os.Open(filepath.Join(dir, s.Data))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	if err := snaps.Restore(ctx, meta, f); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// StoreHasStreams reports whether the embedded broker's store directory
// holds any stream (of any account): a restore refuses it before starting
// a server on it, which could be a running daemon's.
func StoreHasStreams(storeDir string) (bool, error) {
	accts, err := os.ReadDir(filepath.Join(storeDir, "jetstream"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("backup: %w", err)
	}
	for _, a := range accts {
		streams, err := os.ReadDir(filepath.Join(storeDir, "jetstream", a.Name(), "streams"))
		if err == nil && slices.ContainsFunc(streams, func(e os.DirEntry) bool { return e.IsDir() }) {
			return true, nil
		}
	}
	return false, nil
}
