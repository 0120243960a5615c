package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// snapshotChunk is the size of the chunks of a snapshot or a restore:
// JetStream's default for a snapshot.
const snapshotChunk = 128 << 10

// slowWait bounds, when the caller's context has no deadline, the calls
// that read a whole stream: the answer to a snapshot request (the server
// checks every message's checksum first) and the end of a restore.
const slowWait = 5 * time.Minute

// chunkWait bounds the silence between two chunks of a snapshot: the
// server sends them as fast as this side acknowledges them.
const chunkWait = 30 * time.Second

// ErrStreamExists is the error of a restore into a broker that already
// holds the stream: a restore creates streams, it never overwrites one.
var ErrStreamExists = errors.New("natsbus: the stream exists")

// Snapshots backs up and restores the streams that evhost keeps in
// JetStream under its prefix (the events with the subscriptions'
// consumers, the dead letters, the run records, and the KV and object
// buckets: the plugins' spaces, the deploy store and the releases), with
// JetStream's own snapshot and restore API ($JS.API.STREAM.SNAPSHOT and
// RESTORE, see RATIONALE.md). A snapshot is point-in-time for its stream
// only. Get one from a running bus with Bus.Snapshots, or with
// DialSnapshots for a restore.
type Snapshots struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	prefix string
	close  func()
}

// Snapshots returns the snapshots of the bus's broker, over the bus's own
// connection; its Close does nothing.
func (b *Bus) Snapshots() *Snapshots {
	return &Snapshots{nc: b.nc, js: b.js, prefix: b.opts.Prefix, close: func() {}}
}

// DialSnapshots opens the broker of opts for a restore, without creating
// any stream (unlike Open): with opts.Embedded, it starts the embedded
// server on its store directory without its listener, so that nothing
// else reaches the store while it is restored (no daemon may be running on
// that directory); else it connects to the cluster at opts.URLs. Close
// the result to disconnect (and stop the server).
func DialSnapshots(ctx context.Context, opts Options) (*Snapshots, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	b := &Bus{opts: opts, log: opts.Logger}
	if e := opts.Embedded; e != nil {
		quiet := *e
		quiet.Listen, quiet.Auth, quiet.TLS = "", ListenAuth{}, nil
		srv, _, err := startServer(ctx, &quiet, b.log)
		if err != nil {
			return nil, err
		}
		b.srv = srv
	}
	nc, err := b.connect("-snapshots", nil)
	if err != nil {
		b.stopServer()
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		b.stopServer()
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	return &Snapshots{nc: nc, js: js, prefix: opts.Prefix, close: func() { drain(nc); b.stopServer() }}, nil
}

// Close closes what DialSnapshots opened.
func (s *Snapshots) Close() { s.close() }

// Prefix is the prefix of the streams' names.
func (s *Snapshots) Prefix() string { return s.prefix }

// Ours reports whether the stream name is one that evhost keeps under the
// prefix: <prefix>_events, _dlq, _runs, and the buckets KV_<prefix>_* and
// OBJ_<prefix>_*.
func (s *Snapshots) Ours(name string) bool {
	p := s.prefix
	switch name {
	case p + "_events", p + "_dlq", p + "_runs":
		return true
	}
	return strings.HasPrefix(name, "KV_"+p+"_") || strings.HasPrefix(name, "OBJ_"+p+"_")
}

// Streams returns the names of the streams evhost keeps (Ours) on the
// broker, sorted.
func (s *Snapshots) Streams(ctx context.Context) ([]string, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var names []string
	l := s.js.StreamNames(ctx)
	for n := range l.Name() {
		if s.Ours(n) {
			names = append(names, n)
		}
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("natsbus: list streams: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// Exists reports whether the broker holds the stream name.
func (s *Snapshots) Exists(ctx context.Context, name string) (bool, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	_, err := s.js.Stream(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return false, nil
	}
	return false, fmt.Errorf("natsbus: stream %s: %w", name, err)
}

// Snapshot writes the snapshot of the stream name to w: JetStream's own
// format (an s2-compressed tar of the stream's files, its consumers and
// their delivery state included), with every message's checksum checked
// first. It returns the stream's metadata (its config and state when the
// snapshot was taken, JSON), which Restore needs. Chunks are acknowledged
// once written, so a slow w slows the server down; a w that stalls past
// the server's patience (a few seconds) ends the snapshot with an error.
func (s *Snapshots) Snapshot(ctx context.Context, name string, w io.Writer) (meta []byte, err error) {
	inbox := s.nc.NewInbox()
	sub, err := s.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("natsbus: snapshot %s: %w", name, err)
	}
	defer sub.Unsubscribe()
	req, _ := json.Marshal(server.JSApiStreamSnapshotRequest{DeliverSubject: inbox, ChunkSize: snapshotChunk, CheckMsgs: true})
	actx, cancel := ctx, context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		actx, cancel = context.WithTimeout(ctx, slowWait)
	}
	msg, err := s.nc.RequestWithContext(actx, fmt.Sprintf(server.JSApiStreamSnapshotT, name), req)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("natsbus: snapshot %s: %w", name, err)
	}
	var resp server.JSApiStreamSnapshotResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("natsbus: snapshot %s: the server's answer: %w", name, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("natsbus: snapshot %s: %s", name, resp.Error.Description)
	}
	if resp.Config == nil || resp.State == nil {
		return nil, fmt.Errorf("natsbus: snapshot %s: the server's answer has no config or state", name)
	}
	meta, err = json.Marshal(server.JSApiStreamRestoreRequest{Config: *resp.Config, State: *resp.State})
	if err != nil {
		return nil, fmt.Errorf("natsbus: snapshot %s: %w", name, err)
	}
	for {
		// A longer silence than chunkWait means the server is gone.
		mctx, cancel := context.WithTimeout(ctx, chunkWait)
		m, err := sub.NextMsgWithContext(mctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("natsbus: snapshot %s: %w", name, err)
		}
		if len(m.Data) == 0 { // the end, or the server's error
			if st := m.Header.Get("Status"); st != "" && st != "204" {
				return nil, fmt.Errorf("natsbus: snapshot %s: the server ended it: %s %s", name, st, m.Header.Get("Description"))
			}
			return meta, nil
		}
		if _, err := w.Write(m.Data); err != nil {
			return nil, fmt.Errorf("natsbus: snapshot %s: %w", name, err)
		}
		if m.Reply != "" {
			if err := m.Respond(nil); err != nil {
				return nil, fmt.Errorf("natsbus: snapshot %s: %w", name, err)
			}
		}
	}
}

// SnapshotInfo describes a snapshot, from its metadata.
type SnapshotInfo struct {
	// Stream is the stream's name.
	Stream string
	// Messages and Bytes are what the stream held, FirstSeq and LastSeq
	// its first and last sequence numbers, and Consumers its consumers,
	// when the snapshot was taken.
	Messages, Bytes, FirstSeq, LastSeq uint64
	Consumers                          int
}

// DescribeSnapshot returns what the metadata of a snapshot (from
// Snapshot) says.
func DescribeSnapshot(meta []byte) (SnapshotInfo, error) {
	var req server.JSApiStreamRestoreRequest
	if err := json.Unmarshal(meta, &req); err != nil {
		return SnapshotInfo{}, fmt.Errorf("natsbus: a snapshot's metadata: %w", err)
	}
	if req.Config.Name == "" {
		return SnapshotInfo{}, errors.New("natsbus: a snapshot's metadata names no stream")
	}
	st := req.State
	return SnapshotInfo{Stream: req.Config.Name, Messages: st.Msgs, Bytes: st.Bytes, FirstSeq: st.FirstSeq, LastSeq: st.LastSeq, Consumers: st.Consumers}, nil
}

// Restore creates a stream from its snapshot: meta, as Snapshot returned
// it, and the snapshot's bytes read from r. It refuses (ErrStreamExists)
// a stream the broker holds. It returns once the server has restored the
// stream and its consumers.
func (s *Snapshots) Restore(ctx context.Context, meta []byte, r io.Reader) error {
	info, err := DescribeSnapshot(meta)
	if err != nil {
		return err
	}
	name := info.Stream
	if ok, err := s.Exists(ctx, name); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%w: %s", ErrStreamExists, name)
	}
	fail := func(err error) error { return fmt.Errorf("natsbus: restore %s: %w", name, err) }
	actx, cancel := withTimeout(ctx)
	msg, err := s.nc.RequestWithContext(actx, fmt.Sprintf(server.JSApiStreamRestoreT, name), meta)
	cancel()
	if err != nil {
		return fail(err)
	}
	var resp server.JSApiStreamRestoreResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fail(fmt.Errorf("the server's answer: %w", err))
	}
	if resp.Error != nil {
		return fail(errors.New(resp.Error.Description))
	}
	buf := make([]byte, snapshotChunk)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if err := s.chunk(ctx, resp.DeliverSubject, buf[:n]); err != nil {
				return fail(err)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fail(rerr)
		}
	}
	// The empty chunk ends the transfer; the answer comes once the
	// stream is restored.
	return s.chunk(ctx, resp.DeliverSubject, nil)
}

// chunk sends one chunk of a restore and checks the server's answer: empty
// for a chunk taken, a stream-create answer for the last one or an error.
func (s *Snapshots) chunk(ctx context.Context, subject string, data []byte) error {
	if _, ok := ctx.Deadline(); !ok {
		wait := apiTimeout
		if data == nil {
			wait = slowWait // restoring a large stream takes a while
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	msg, err := s.nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		return err
	}
	if len(msg.Data) == 0 {
		return nil
	}
	var resp server.JSApiStreamCreateResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("the server's answer: %w", err)
	}
	if resp.Error != nil {
		return errors.New(resp.Error.Description)
	}
	return nil
}
