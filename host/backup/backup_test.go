package backup_test

import (
	"archive/tar"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/backup"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/httpapi"
)

// serve mounts the backup route over b behind a token and returns a
// function that posts to it.
func serve(t *testing.T, b *natsbus.Bus) func() *httptest.ResponseRecorder {
	t.Helper()
	mb := membus.New(membus.Options{})
	t.Cleanup(func() { mb.Close(context.Background()) })
	srv := httpapi.New(httpapi.Options{Publisher: mb, Token: "s3cret"})
	srv.Mount(&backup.Routes{Bus: b, TempDir: t.TempDir(), Version: "test"})
	return func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/admin/backup", nil)
		req.Host = "localhost"
		req.Header.Set("Authorization", "Bearer s3cret")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		return w
	}
}

func openBus(t *testing.T, dir string) *natsbus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := natsbus.Open(ctx, natsbus.Options{Embedded: &natsbus.Embedded{StoreDir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	return b
}

// A backup of a bus with a KV space, written to a directory and restored
// into a fresh store: the KV space's value is back. A damaged file, a
// backup of another prefix and a store that holds the streams are refused
// before anything is restored.
func TestBackupRestoreKV(t *testing.T) {
	ctx := context.Background()
	b := openBus(t, t.TempDir())
	space, err := natsbus.KV(ctx, b, "cart", natsbus.KVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := space.Set(ctx, "items", []byte("3")); err != nil {
		t.Fatal(err)
	}
	w := serve(t, b)()
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/x-tar" {
		t.Fatalf("POST /v1/admin/backup: %d %s", w.Code, w.Header())
	}
	dir := filepath.Join(t.TempDir(), "bk")
	m, err := backup.Write(bytes.NewReader(w.Body.Bytes()), dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range m.Streams {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, " "); got != "KV_evhost_kv_cart evhost_dlq evhost_events" {
		t.Errorf("streams %q", got)
	}
	if m.Version != "test" || m.Prefix != "evhost" || m.Started.IsZero() || m.Finished.Before(m.Started) {
		t.Errorf("manifest %+v", m)
	}
	if _, err := backup.Write(bytes.NewReader(w.Body.Bytes()), dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Write into a backup: %v", err)
	}

	// Into the store it came from: refused, nothing changes.
	if _, err := backup.Restore(ctx, dir, b.Snapshots(), nil); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("Restore into the original store: %v", err)
	}
	if has, err := backup.StoreHasStreams(filepath.Join(t.TempDir(), "none")); err != nil || has {
		t.Errorf("StoreHasStreams of no directory: %v %v", has, err)
	}

	// A damaged copy is refused by Read and Restore.
	bad := filepath.Join(t.TempDir(), "bad")
	copyDir(t, dir, bad)
	f := filepath.Join(bad, "evhost_events.snap")
	data, _ := os.ReadFile(f)
	data[len(data)/2] ^= 0xff
	os.WriteFile(f, data, 0o600)
	if _, err := backup.Read(bad); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Read of a damaged backup: %v", err)
	}

	fresh := t.TempDir()
	snaps, err := natsbus.DialSnapshots(ctx, natsbus.Options{Embedded: &natsbus.Embedded{StoreDir: fresh}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(ctx, bad, snaps, nil); err == nil {
		t.Error("Restore of a damaged backup: no error")
	}
	other, err := natsbus.DialSnapshots(ctx, natsbus.Options{Embedded: &natsbus.Embedded{StoreDir: t.TempDir()}, Prefix: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(ctx, dir, other, nil); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Errorf("Restore into another prefix: %v", err)
	}
	other.Close()
	var restored []string
	if _, err := backup.Restore(ctx, dir, snaps, func(s backup.Stream) { restored = append(restored, s.Name) }); err != nil {
		t.Fatal(err)
	}
	snaps.Close()
	if len(restored) != 3 {
		t.Errorf("restored %v", restored)
	}
	if has, err := backup.StoreHasStreams(fresh); err != nil || !has {
		t.Errorf("StoreHasStreams after a restore: %v %v", has, err)
	}
	b2 := openBus(t, fresh)
	space2, err := natsbus.KV(ctx, b2, "cart", natsbus.KVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := space2.Get(ctx, "items"); err != nil || string(v) != "3" {
		t.Errorf("restored KV items = %q, %v", v, err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// The memory broker has nothing to back up.
func TestBackupMemoryBroker(t *testing.T) {
	if w := serve(t, nil)(); w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "memory broker") {
		t.Errorf("POST /v1/admin/backup on the memory broker: %d %s", w.Code, w.Body)
	}
}

// Write refuses an answer that is not a whole backup, and leaves nothing.
func TestWriteRefuses(t *testing.T) {
	mk := func(entries ...string) []byte { // name, content, name, content...
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for i := 0; i+1 < len(entries); i += 2 {
			tw.WriteHeader(&tar.Header{Name: entries[i], Mode: 0o600, Size: int64(len(entries[i+1])), Typeflag: tar.TypeReg})
			tw.Write([]byte(entries[i+1]))
		}
		tw.Close()
		return buf.Bytes()
	}
	for _, tc := range []struct {
		name string
		tar  []byte
		want string
	}{
		{"no manifest", mk("evhost_events.json", "{}", "evhost_events.snap", "x"), "incomplete"},
		{"the daemon failed", mk("evhost_events.json", "{}", "error.txt", "disk full\n"), "the daemon failed: disk full"},
		{"a path", mk("../evil.snap", "x"), "not a plain file name"},
		{"a directory", mk("a/b.snap", "x"), "not a plain file name"},
		{"another file", mk("run.sh", "x"), "unexpected entry"},
		{"a bad manifest", mk("manifest.json", "{"), "manifest"},
		{"a manifest of files absent", mk("manifest.json", `{"format":"evhost-backup/1","streams":[{"name":"s","meta":"s.json","data":"s.snap"}]}`), "no such file"},
		{"not a tar", []byte(strings.Repeat("x", 2000)), "reading the daemon's answer"},
	} {
		parent := t.TempDir()
		dir := filepath.Join(parent, "bk")
		_, err := backup.Write(bytes.NewReader(tc.tar), dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
		if ents, _ := os.ReadDir(parent); len(ents) != 0 {
			t.Errorf("%s: left %v behind", tc.name, ents)
		}
	}
}
