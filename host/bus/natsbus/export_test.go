package natsbus

import (
	"bytes"
	"context"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/runlog"
)

// PutRaw stores data as the module of digest without checking it: a
// corrupt or tampered object, for the tests.
func PutRaw(ctx context.Context, d *DeployStore, digest string, data []byte) error {
	_, err := d.obj.Put(ctx, jetstream.ObjectMeta{Name: moduleName(digest)}, bytes.NewReader(data))
	return err
}

// AppendOneEach appends recs in the layout of one message per record that
// versions before the batches wrote, and sets their Seq.
func AppendOneEach(ctx context.Context, s runlog.Store, recs ...*runlog.Record) error {
	rs := s.(*runStore)
	for _, r := range recs {
		ack, err := rs.b.js.Publish(ctx, rs.subject(r.EventID), runlog.AppendJSON(nil, r))
		if err != nil {
			return err
		}
		r.Seq = recordSeq(ack.Sequence, 0)
	}
	return nil
}

// PublishRunsRaw publishes a message on the batches' subject of the run
// log s with the index header hdr.
func PublishRunsRaw(ctx context.Context, s runlog.Store, hdr string, body []byte) error {
	rs := s.(*runStore)
	_, err := rs.b.js.PublishMsg(ctx, &nats.Msg{Subject: rs.batchSubject(), Header: nats.Header{runsHeader: {hdr}}, Data: body})
	return err
}

// RunsMessages returns the number of messages in the stream of the run
// log s.
func RunsMessages(ctx context.Context, s runlog.Store) (uint64, error) {
	info, err := s.(*runStore).stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}
