package natsbus

import (
	"bytes"
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// PutRaw stores data as the module of digest without checking it: a
// corrupt or tampered object, for the tests.
func PutRaw(ctx context.Context, d *DeployStore, digest string, data []byte) error {
	_, err := d.obj.Put(ctx, jetstream.ObjectMeta{Name: moduleName(digest)}, bytes.NewReader(data))
	return err
}
