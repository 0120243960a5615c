package backup

import (
	"time"
)

// Format is the format of a backup directory that this version writes
// and reads, in its manifest.
const Format = "evhost-backup/1"

// ManifestFile is the name of the manifest in a backup directory; it is the
// last entry of the tar that the daemon sends, so a backup without it is
// incomplete.
const ManifestFile = "manifest.json"

// errorFile is the entry the daemon appends to the tar, in place of the
// manifest, when a snapshot fails after the answer has begun.
const errorFile = "error.txt"

// Manifest describes a backup directory.
type Manifest struct {
	// Format is Format.
	Format string `json:"format"`
	// Started is when the daemon began the backup: every event the broker
	// had accepted by then is in it (unless the stream's limits had
	// already dropped it); Finished when the last snapshot ended.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Version is the version of the evhost that took it.
	Version string `json:"evhost_version"`
	// Prefix is the prefix of the streams' names ([broker] prefix).
	Prefix string `json:"prefix"`
	// Streams are the snapshots, in the order they were taken.
	Streams []Stream `json:"streams"`
}

// Stream is the snapshot of one stream in a backup.
type Stream struct {
	// Name is the stream's name.
	Name string `json:"name"`
	// Taken is when its snapshot began.
	Taken time.Time `json:"taken"`
	// Messages, Bytes, FirstSeq, LastSeq and Consumers are the stream's
	// state in the snapshot.
	Messages  uint64 `json:"messages"`
	Bytes     uint64 `json:"bytes"`
	FirstSeq  uint64 `json:"first_seq"`
	LastSeq   uint64 `json:"last_seq"`
	Consumers int    `json:"consumers"`
	// Meta is the file of the stream's config and state (<name>.json), Data
	// the file of the snapshot (<name>.snap: JetStream's s2-compressed tar);
	// their sizes and SHA-256 digests (hex) follow.
	Meta       string `json:"meta"`
	MetaSHA256 string `json:"meta_sha256"`
	Data       string `json:"data"`
	DataBytes  int64  `json:"data_bytes"`
	DataSHA256 string `json:"data_sha256"`
}
