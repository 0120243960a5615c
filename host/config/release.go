package config

import (
	"bytes"
	"fmt"

	"github.com/BurntSushi/toml"
)

// releaseHeader opens the text of every release.
const releaseHeader = `# An evhost release, written by evhost deploy: the plugins pinned by the
# SHA-256 of their modules. Each daemon takes [host] and [broker] from its own
# config file; they are not part of a release.

`

// ReleaseText returns the config text of a release made from src, the text
// of a valid config file: the same tables and values, without [host] and
// [broker] (each daemon keeps its own), with the path of each plugin named
// in digests replaced by "sha256:" and its digest (64 lowercase hex
// digits). Comments and the order of keys are not kept: the text is
// rendered again from the decoded document, so that the edit cannot
// depend on how the file was written (inline tables, dotted keys).
//
// Secrets are kept as written: a key_env or key_file is read by each
// daemon when it parses the release, an inline secret travels in the
// release. Relative paths (config_file and the like) are resolved by each
// daemon against the directory of its own config file (see ParseIn).
func ReleaseText(src []byte, digests map[string]string) ([]byte, error) {
	var tree map[string]any
	if _, err := toml.Decode(string(src), &tree); err != nil {
		return nil, fmt.Errorf("config: release: %w", err)
	}
	delete(tree, "host")
	delete(tree, "broker")
	delete(tree, "deploy") // the daemon's own trust, never a release's
	plugins, _ := tree["plugins"].(map[string]any)
	for name, digest := range digests {
		if !ValidDigest(digest) {
			return nil, fmt.Errorf("config: release: plugin %q: invalid digest %q", name, digest)
		}
		p, ok := plugins[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("config: release: no plugin %q in the config", name)
		}
		p["path"] = DigestPrefix + digest
		delete(p, "engine") // the digest is the engine's module
		dropBuildKeys(p)
	}
	var buf bytes.Buffer
	buf.WriteString(releaseHeader)
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(tree); err != nil {
		return nil, fmt.Errorf("config: release: %w", err)
	}
	return buf.Bytes(), nil
}
