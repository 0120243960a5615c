package watch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Hash returns the content hash of t as the [Watcher] computes it: the hex
// SHA-256 of a file target's content (following symbolic links), or, for
// a directory target, the hex SHA-256 of the sorted list of its counted
// files, one line per file holding its slash-separated name relative to
// the directory and the hex SHA-256 of its content. Modification times,
// modes and owners never enter a hash.
//
// A target that does not exist is an error for which errors.Is(err,
// fs.ErrNotExist) holds. The daemon records the hash of what it loads and
// hands it back in [Target].Hash, so that a change made between its read
// and [Watcher.Set] is still reported.
func Hash(t Target) (string, error) {
	abs, err := filepath.Abs(t.Path)
	if err != nil {
		return "", fmt.Errorf("watch: %w", err)
	}
	h, err := hashTarget(abs, t.Dir, t.filter(), nil)
	if err != nil {
		return "", fmt.Errorf("watch: %w", err)
	}
	if h == "" {
		return "", fmt.Errorf("watch: %s: %w", t.Path, fs.ErrNotExist)
	}
	return h, nil
}

// HashBytes returns the hash that [Hash] gives a file target holding b.
// The daemon uses it on the bytes it has read, so that the hash it records
// is the hash of exactly what it loaded.
func HashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// GoSource is the default [Target].Filter of a directory target: it counts
// the files that can change what `go build` makes of a plugin's source
// directory: *.go files other than *_test.go, and go.mod and go.sum. As
// the go command does, it ignores files whose name begins with "." or
// "_". name is slash-separated and relative to the target directory.
//
// Test files are left out on purpose: they never enter the c-shared build
// of a plugin, so editing one must not rebuild and swap it.
func GoSource(name string) bool {
	base := name[strings.LastIndexByte(name, '/')+1:]
	if base == "" || base[0] == '.' || base[0] == '_' {
		return false
	}
	switch {
	case base == "go.mod", base == "go.sum":
		return true
	case strings.HasSuffix(base, "_test.go"):
		return false
	default:
		return strings.HasSuffix(base, ".go")
	}
}

// skipDir reports whether a directory below a directory target's root is
// left out of its hash and of the watched tree: testdata, and names that
// begin with "." (hidden, version control) or "_", which the go command
// ignores too.
func skipDir(name string) bool {
	return name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

// skipPath reports whether rel (slash-separated, relative to a directory
// target's root) lies in or is a directory that skipDir leaves out.
func skipPath(rel string) bool {
	for len(rel) > 0 {
		elem, rest, _ := strings.Cut(rel, "/")
		if skipDir(elem) {
			return true
		}
		rel = rest
	}
	return false
}

// hashTarget hashes the file or directory tree at abs, following symbolic
// links to it, and returns "" with a nil error when it does not exist.
func hashTarget(abs string, dir bool, filter func(string) bool, onDir func(string)) (string, error) {
	if !dir {
		return hashFile(abs)
	}
	root, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return hashDir(root, filter, onDir)
}

// hashFile returns the hash of the file at path, following symbolic links,
// or "" with a nil error when it does not exist (a dangling link counts as
// missing).
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashDir returns the hash of the directory tree at root (a directory, not
// a symbolic link) or "" with a nil error when it does not exist. onDir,
// when not nil, is called with each directory of the tree before its
// entries are read, so that a watch it adds there sees every change made
// after the hash read the directory.
func hashDir(root string, filter func(string) bool, onDir func(string)) (string, error) {
	type file struct{ name, hash string }
	var files []file
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != root && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking: the removal's own event follows
			}
			return err
		}
		if d.IsDir() {
			if path != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			if onDir != nil {
				onDir(path)
			}
			return nil
		}
		if path == root {
			return fmt.Errorf("%s is not a directory", root)
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !filter(rel) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// A link to a file counts as that file; a link to a directory
			// is not followed, as the go command does not follow it.
			if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		h, err := hashFile(path)
		if err != nil {
			return err
		}
		if h != "" {
			files = append(files, file{rel, h})
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })
	h := sha256.New()
	for _, f := range files {
		io.WriteString(h, f.name)
		h.Write([]byte{0})
		io.WriteString(h, f.hash)
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// AnyFile is a [Target].Filter for a directory of sources in any language
// (a plugin's build watches them): it counts every file but those whose
// name begins with "." (hidden files, editors' swap files) or "#", or ends
// with "~" (editors' backups).
func AnyFile(name string) bool {
	base := name[strings.LastIndexByte(name, '/')+1:]
	return base != "" && base[0] != '.' && base[0] != '#' && !strings.HasSuffix(base, "~")
}
