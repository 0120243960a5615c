// Package backup owns the backups of the broker's streams: what a backup
// is (a directory of JetStream snapshots, one per stream, and a manifest
// that names and checksums them), the admin route that takes one from a
// running daemon (POST /v1/admin/backup, answered with a tar of that
// directory), writing that tar into a directory on the client's side
// (Write), and restoring a directory into a broker whose streams are
// absent (Restore).
//
// A backup is point-in-time per stream, not across streams: the streams
// are snapshotted one after the other (see the README's operator section).
//
// It imports host/bus/natsbus (the snapshots themselves) and host/httpapi
// (the route's errors); it must not import host/config or the daemon: the
// daemon hands it the bus, the command line the options of the broker.
package backup
