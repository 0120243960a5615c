package host_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/config"
)

const natsSources = `
[broker]
listen = "127.0.0.1:0"

[[sources.nats]]
name = "orders"
subject = "orders.>"
type_from_subject = true
type_prefix = "ext."

[[sources.nats]]
name = "ledger"
subject = "ledger.>"
stream = "LEDGER"
deliver = "all"
type = "ledger.entry"
content_type = "text/plain"
max_message = "1KiB"
ack_wait = "2s"
`

// natsDaemon starts a daemon with the NATS sources on the embedded broker
// in dir (kept across restarts), a native handler of every type (one event
// at a time), and returns it, its handler's events, its API's URL and its
// broker's.
func natsDaemon(t *testing.T, dir string, s *sink, defaults string) (*host.Host, *sink, string, string) {
	t.Helper()
	path := filepath.Join(dir, "config.toml")
	os.WriteFile(path, []byte(`[host]
data_dir = "data"
token = "`+srcToken+`"
[defaults]
concurrency = 1
`+defaults+natsSources), 0o644)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeHost(h) })
	if err := h.Handle("sink", []string{">"}, s.handle); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	return h, s, srv.URL, h.BrokerURL()
}

func closeHost(h *host.Host) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	h.Close(ctx)
}

// waitRunning waits until the status says the source name runs.
func waitRunning(t *testing.T, base, name string) {
	t.Helper()
	waitFor(t, "source "+name+" running", func() bool { return sourceStatus(t, base, name).Running })
}

// client connects a nats.go client of another application.
func client(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// Other applications (a client here, and another process) publish plain
// messages on a core NATS subject with nats.go: each becomes an event whose type is the subject (after the
// prefix), whose data is the payload, whose id is the Nats-Msg-Id, and
// whose extensions are the headers (their names made valid).
func TestNATSSourceCoreSubject(t *testing.T) {
	_, s, base, brokerURL := natsDaemon(t, t.TempDir(), newSink(), "")
	waitRunning(t, base, "orders")
	nc, _ := client(t, brokerURL)
	msg := nats.NewMsg("orders.created")
	msg.Data = []byte(`{"order":1}`)
	msg.Header.Set("Nats-Msg-Id", "order-1")
	msg.Header.Set("Content-Type", "application/json")
	msg.Header.Set("X-Tenant-ID", "acme")
	msg.Header.Set("Depth", "99") // evhost's own: not taken
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("orders.shipped", []byte("plain text")); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	ev, _ := s.waitID(t, "order-1")
	if tenant, _ := ev.Ext("xtenantid"); ev.Type != "ext.orders.created" || string(ev.Data) != `{"order":1}` ||
		ev.DataContentType != "application/json" || tenant != "acme" || ev.Source != "evhost://nats/orders" {
		t.Fatalf("event: %+v", ev)
	}
	if d, _ := ev.Ext("depth"); d == "99" {
		t.Fatalf("the publisher set evhost's depth: %+v", ev)
	}
	waitFor(t, "the second message", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, e := range s.events {
			if e.Type == "ext.orders.shipped" && string(e.Data) == "plain text" {
				return true
			}
		}
		return false
	})
	// Another process (this test binary, run as TestNATSPublisherProcess)
	// publishes with nats.go too.
	cmd := exec.Command(os.Args[0], "-test.run=^TestNATSPublisherProcess$")
	cmd.Env = append(os.Environ(), "EVHOST_TEST_PUBLISH_URL="+brokerURL)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("publisher process: %v\n%s", err, out)
	}
	for i := range 5 {
		if ev, n := s.waitID(t, "paid-"+strconv.Itoa(i)); ev.Type != "ext.orders.paid" || n != 1 {
			t.Fatalf("event of the other process: %+v, %d times", ev, n)
		}
	}
	if st := sourceStatus(t, base, "orders"); st.Produced != 7 || st.Kind != api.SourceNATS || st.Where != "orders.>" {
		t.Fatalf("status: %+v", st)
	}
}

// TestNATSPublisherProcess is the other application of
// TestNATSSourceCoreSubject: run as a process of its own, it publishes
// five plain messages with nats.go to the URL it is given.
func TestNATSPublisherProcess(t *testing.T) {
	url := os.Getenv("EVHOST_TEST_PUBLISH_URL")
	if url == "" {
		t.Skip("the publisher process of TestNATSSourceCoreSubject")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for i := range 5 {
		m := nats.NewMsg("orders.paid")
		m.Header.Set("Nats-Msg-Id", "paid-"+strconv.Itoa(i))
		m.Data = []byte(`{"paid":` + strconv.Itoa(i) + `}`)
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// Every message of a stream source is handled at least once across a
// restart of the daemon (the embedded broker, the same data directory):
// the daemon stops while the source holds messages it could not publish
// yet (the handler's queue is full: the bus refuses them, and the source
// leaves them in the stream), and messages are published after the
// restart too. A message over max_message is refused, counted and
// terminated, never delivered again, and does not hold up the others.
func TestNATSSourceStreamAtLeastOnceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s1 := newSink()
	s1.gate = make(chan struct{})
	h, _, base, brokerURL := natsDaemon(t, dir, s1, "queue = 10\n")
	_, js := client(t, brokerURL)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LEDGER", Subjects: []string{"ledger.>"}}); err != nil {
		t.Fatal(err)
	}
	// The stream did not exist when the daemon started: the source
	// retries until it does.
	waitRunning(t, base, "ledger")

	const n = 100
	want := map[string]bool{}
	pub := func(js jetstream.JetStream, i int) {
		if _, err := js.Publish(ctx, "ledger.entry."+strconv.Itoa(i%3), []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		want[strconv.Itoa(i)] = true
	}
	if _, err := js.Publish(ctx, "ledger.big", []byte(strings.Repeat("x", 2048))); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		pub(js, i)
	}
	// The handler is stuck and its queue full: the bus refuses the
	// source's events, which stay in the stream. Stop the daemon then.
	waitFor(t, "the bus to refuse the source's events", func() bool { return sourceStatus(t, base, "ledger").Refused["bus"] > 0 })
	st1 := sourceStatus(t, base, "ledger")
	if st1.Produced >= n {
		t.Fatalf("the source published every message before the restart: %+v", st1)
	}
	close(s1.gate)
	closeHost(h)

	s2 := newSink()
	_, _, base2, brokerURL2 := natsDaemon(t, dir, s2, "")
	waitRunning(t, base2, "ledger")
	_, js2 := client(t, brokerURL2)
	for i := n; i < n+20; i++ {
		pub(js2, i)
	}
	got := map[string]int{}
	waitFor(t, "every entry handled", func() bool {
		clear(got)
		for _, s := range []*sink{s1, s2} {
			s.mu.Lock()
			for _, ev := range s.events {
				if ev.Type == "ledger.entry" {
					got[string(ev.Data)]++
				}
			}
			s.mu.Unlock()
		}
		for k := range want {
			if got[k] == 0 {
				return false
			}
		}
		return true
	})
	if len(got) != len(want) {
		t.Fatalf("handled %d distinct entries, want %d", len(got), len(want))
	}
	twice := 0
	for _, c := range got {
		if c > 1 {
			twice++
		}
	}
	t.Logf("%d entries, %d handled more than once (at least once); before the restart the source produced %d", len(got), twice, st1.Produced)
	st := sourceStatus(t, base2, "ledger")
	if st1.Refused["too_large"]+st.Refused["too_large"] != 1 {
		t.Errorf("the large message was refused %d times, want once (terminated, not redelivered)", st1.Refused["too_large"]+st.Refused["too_large"])
	}
	// The event carries the stream's sequence as its id, the stream's
	// time, and the configured content type.
	s2.mu.Lock()
	ev := s2.events[len(s2.events)-1]
	s2.mu.Unlock()
	if !strings.HasPrefix(ev.ID, "LEDGER-") || ev.DataContentType != "text/plain" || ev.Source != "evhost://nats/ledger" {
		t.Errorf("event: %+v", ev)
	}
	cons, err := js2.Consumer(ctx, "LEDGER", "evhost-source-ledger")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every message acknowledged", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
}

// A NATS source reads another server (url), with its own credentials
// (user and password_env), beside a daemon whose broker is not NATS at
// all; wrong credentials leave the source not running, with the server's
// refusal as its last error.
func TestNATSSourceOtherServer(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, Username: "app", Password: "s3cret-of-the-app",
		NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(waitLimit) {
		t.Fatal("server not ready")
	}
	t.Setenv("TEST_APP_NATS_PASSWORD", "s3cret-of-the-app")
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	os.WriteFile(path, []byte(`[host]
data_dir = "data"
token = "`+srcToken+`"
[broker]
kind = "memory"
[[sources.nats]]
name = "app"
subject = "app.>"
url = "`+srv.ClientURL()+`"
user = "app"
password_env = "TEST_APP_NATS_PASSWORD"
type_from_subject = true
[[sources.nats]]
name = "intruder"
subject = "app.>"
url = "`+srv.ClientURL()+`"
user = "app"
password = "not the password"
type = "x.y"
`), 0o644)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeHost(h) })
	s := newSink()
	if err := h.Handle("sink", []string{">"}, s.handle); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(h.Handler())
	t.Cleanup(api.Close)
	waitRunning(t, api.URL, "app")

	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("app", "s3cret-of-the-app"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	msg := nats.NewMsg("app.user.signed_up")
	msg.Header.Set("Nats-Msg-Id", "u-1")
	msg.Data = []byte(`{"user":"ada"}`)
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	ev, _ := s.waitID(t, "u-1")
	if ev.Type != "app.user.signed_up" || string(ev.Data) != `{"user":"ada"}` {
		t.Fatalf("event: %+v", ev)
	}
	waitFor(t, "the intruder's refusal", func() bool {
		st := sourceStatus(t, api.URL, "intruder")
		return !st.Running && strings.Contains(strings.ToLower(st.LastError), "authorization")
	})
}
