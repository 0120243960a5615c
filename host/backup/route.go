package backup

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/httpapi"
)

// writeIdle bounds how long one write of the answer may wait for the
// client; the answer as a whole has no deadline (a backup takes as long as
// the store is large), unlike the API's other answers.
const writeIdle = time.Minute

// Routes offers POST /v1/admin/backup (the admin scope: a backup holds
// every event and every plugin's KV space): it snapshots each stream that
// evhost keeps, one after the other, and answers with a tar of the backup
// directory (see Write), the manifest last. Each snapshot is spooled to a
// file under TempDir first, so that a slow client never stalls JetStream's
// snapshot (which gives up on a receiver that does not keep up); the
// spool holds one stream's snapshot at a time. One backup runs at a time.
type Routes struct {
	// Bus is the daemon's NATS bus; nil for the memory broker, which keeps
	// nothing to back up.
	Bus *natsbus.Bus
	// TempDir holds the spool; Version is the daemon's version.
	TempDir, Version string
	Logger           *slog.Logger

	running atomic.Bool
}

var _ httpapi.Routes = (*Routes)(nil)

// Routes implements httpapi.Routes.
func (rs *Routes) Routes() []httpapi.Route {
	return []httpapi.Route{{Pattern: "POST /v1/admin/backup", Handler: http.HandlerFunc(rs.serve)}}
}

func (rs *Routes) log() *slog.Logger {
	if rs.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return rs.Logger
}

func (rs *Routes) serve(w http.ResponseWriter, r *http.Request) {
	if rs.Bus == nil {
		httpapi.WriteError(w, http.StatusConflict, &httpapi.ErrorResponse{Error: "the memory broker keeps nothing to back up: backups need [broker] kind \"embedded\" or \"nats\""})
		return
	}
	if !rs.running.CompareAndSwap(false, true) {
		httpapi.WriteError(w, http.StatusConflict, &httpapi.ErrorResponse{Error: "a backup is already running"})
		return
	}
	defer rs.running.Store(false)
	ctx := r.Context()
	snaps := rs.Bus.Snapshots()
	m := &Manifest{Format: Format, Started: time.Now().UTC(), Version: rs.Version, Prefix: snaps.Prefix(), Streams: []Stream{}}
	names, err := snaps.Streams(ctx)
	if err == nil {
		err = os.MkdirAll(rs.TempDir, 0o700)
	}
	if err != nil {
		httpapi.WriteError(w, http.StatusServiceUnavailable, &httpapi.ErrorResponse{Error: fmt.Sprintf("backup: %v", err)})
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // per write instead, below
	h := w.Header()
	h.Set("Content-Type", "application/x-tar")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=\"evhost-backup-%s.tar\"", m.Started.Format("20060102T150405Z")))
	w.WriteHeader(http.StatusOK)
	tw := tar.NewWriter(idleWriter{w, rc})
	rs.log().Info("backup started", slog.Int("streams", len(names)))
	for _, name := range names {
		s, err := rs.stream(ctx, snaps, name, tw)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			rs.log().Error("backup failed", slog.String("stream", name), slog.Any("error", err))
			// The answer has begun: say why in place of the manifest.
			if addFile(tw, errorFile, []byte(err.Error()+"\n"), time.Now()) == nil {
				_ = tw.Close()
			}
			return
		}
		m.Streams = append(m.Streams, s)
	}
	m.Finished = time.Now().UTC()
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := addFile(tw, ManifestFile, append(b, '\n'), m.Finished); err != nil {
		rs.log().Error("backup failed", slog.Any("error", err))
		return
	}
	if err := tw.Close(); err != nil {
		rs.log().Error("backup failed", slog.Any("error", err))
		return
	}
	var msgs uint64
	for _, s := range m.Streams {
		msgs += s.Messages
	}
	rs.log().Info("backup done", slog.Int("streams", len(m.Streams)), slog.Uint64("messages", msgs),
		slog.Duration("took", m.Finished.Sub(m.Started)))
}

// stream snapshots one stream into the spool, then adds its metadata and
// its snapshot to tw.
func (rs *Routes) stream(ctx context.Context, snaps *natsbus.Snapshots, name string, tw *tar.Writer) (Stream, error) {
	s := Stream{Name: name, Taken: time.Now().UTC(), Meta: name + ".json", Data: name + ".snap"}
	f, err := os.CreateTemp(rs.TempDir, "backup-*.snap")
	if err != nil {
		return s, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	sum := sha256.New()
	meta, err := snaps.Snapshot(ctx, name, io.MultiWriter(f, sum))
	if err != nil {
		return s, err
	}
	info, err := natsbus.DescribeSnapshot(meta)
	if err != nil {
		return s, err
	}
	s.Messages, s.Bytes, s.FirstSeq, s.LastSeq, s.Consumers = info.Messages, info.Bytes, info.FirstSeq, info.LastSeq, info.Consumers
	s.DataSHA256 = hex.EncodeToString(sum.Sum(nil))
	ms := sha256.Sum256(meta)
	s.MetaSHA256 = hex.EncodeToString(ms[:])
	if s.DataBytes, err = f.Seek(0, io.SeekCurrent); err != nil {
		return s, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return s, err
	}
	if err := addFile(tw, s.Meta, meta, s.Taken); err != nil {
		return s, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: s.Data, Mode: 0o600, Size: s.DataBytes, ModTime: s.Taken, Typeflag: tar.TypeReg}); err != nil {
		return s, err
	}
	if n, err := io.Copy(tw, f); err != nil {
		return s, err
	} else if n != s.DataBytes {
		return s, fmt.Errorf("the spool of %s: read %d bytes of %d", name, n, s.DataBytes)
	}
	return s, nil
}

// addFile adds a file named name holding data to tw.
func addFile(tw *tar.Writer, name string, data []byte, mod time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: mod, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// idleWriter gives each write to the client writeIdle.
type idleWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (iw idleWriter) Write(p []byte) (int, error) {
	if err := iw.rc.SetWriteDeadline(time.Now().Add(writeIdle)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	return iw.w.Write(p)
}
