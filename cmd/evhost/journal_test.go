package main

// Helpers of the crash and cluster tests (crash_test.go, cluster_test.go):
// the daemon run as a subprocess of the built binary, a producer that posts
// events over HTTP and retries what it was refused, and a reader of the
// event stream that collects every event and every handler's emit.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/internal/wasmbuild"
)

// The subscriptions of the tests: both receive every "job" event and emit
// one event per event they handle.
var testSubs = []struct{ name, emit string }{{"x", "x.handled"}, {"y", "y.handled"}}

const (
	eventsStream = "evhost_events" // the default prefix's streams
	dlqStream    = "evhost_dlq"
	jobSource    = "/durability-test"
)

// buildEvhost builds the daemon's binary into a directory of the test.
func buildEvhost(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "evhost")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// handledWasm builds testdata/plugins/handled and writes it into a
// directory of the test.
func handledWasm(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "handled.wasm")
	if err := os.WriteFile(p, wasmbuild.Go(t, "testdata/plugins/handled"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testConfig returns a config.toml with the broker table broker and the
// subscriptions of testSubs, each running the handled plugin at wasm with
// node as its config "node", and delay (a Go duration, or "0s") as its
// config "delay".
func testConfig(broker, wasm, node, delay string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
[host]
log_level = "info"
shutdown_timeout = "10s"

[broker]
%s

[defaults]
# The deliveries a killed daemon held are delivered again after the ack
# wait, max(ack_wait, 10 x timeout): 10s.
timeout = "1s"
ack_wait = "10s"
concurrency = 16
queue = 100000
`, broker)
	for _, s := range testSubs {
		fmt.Fprintf(&b, `
[plugins.%s]
path = %q
events = ["job"]
emits = [%q]
config = { emit = %q, node = %q, delay = %q }
`, s.name, wasm, s.emit, s.emit, node, delay)
	}
	return b.String()
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// evhostProc is an evhost daemon running as a subprocess.
type evhostProc struct {
	name   string
	cmd    *exec.Cmd
	log    *syncBuffer
	addr   string        // of its HTTP API
	exited chan struct{} // closed once it has exited
	err    error         // of Wait, once exited
}

// startEvhost runs `evhost run` of bin on config (written to a file of
// the test) with its data under dataDir, and waits until it serves its
// HTTP API on a port of its choosing. The daemon is killed when the test ends; its
// log is shown if the test failed.
func startEvhost(t *testing.T, bin, name, config, dataDir string) *evhostProc {
	t.Helper()
	p := launchEvhost(t, bin, name, config, dataDir)
	p.waitServing(t)
	return p
}

// launchEvhost starts a daemon as startEvhost does, without waiting for it
// to serve: several daemons start at once, and each then waitServing.
func launchEvhost(t *testing.T, bin, name, config, dataDir string) *evhostProc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &evhostProc{name: name, log: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "run", "--config", cfg, "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--watch=false")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			log := p.log.String()
			if len(log) > 8000 {
				log = "...\n" + log[len(log)-8000:]
			}
			t.Logf("log of daemon %s:\n%s", p.name, log)
		}
	})
	return p
}

// waitServing waits until the daemon serves its HTTP API and notes its address.
func (p *evhostProc) waitServing(t *testing.T) {
	t.Helper()
	rx := regexp.MustCompile(`msg="serving the HTTP API" addr=(\S+)`)
	deadline := time.Now().Add(time.Minute)
	for {
		if m := rx.FindStringSubmatch(p.log.String()); m != nil {
			p.addr = m[1]
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("daemon %s exited while starting (%v):\n%s", p.name, p.err, p.log.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon %s did not serve within a minute:\n%s", p.name, p.log.String())
		}
	}
}

// signal sends sig and waits for the daemon to exit, returning how it ended.
func (p *evhostProc) signal(t *testing.T, sig os.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s to daemon %s: %v", sig, p.name, err)
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon %s did not exit on %s:\n%s", p.name, sig, p.log.String())
		return nil
	}
}

// kill sends SIGKILL and waits for the daemon to die.
func (p *evhostProc) kill(t *testing.T) { p.signal(t, syscall.SIGKILL) }

// producer posts "job" events in batches to daemons' POST /v1/events, the
// way a producer that cares about its events does: what was refused (a
// status other than 2xx, a connection error) is sent again, with the same
// ids, to the same or another daemon. It remembers which ids were
// accepted.
type producer struct {
	client *http.Client

	mu       sync.Mutex
	accepted map[string]bool
	refused  map[string]int // how many posts were refused, by reason
	n        atomic.Int64   // len(accepted)
}

func newProducer() *producer {
	return &producer{
		client:   &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
		accepted: map[string]bool{},
		refused:  map[string]int{},
	}
}

func jobIDs(from, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("job-%05d", from+i)
	}
	return ids
}

// post sends one batch to the daemon at addr, and returns the ids it did
// not accept and why ("" when it accepted every one).
func (p *producer) post(ctx context.Context, addr string, ids []string) (rest []string, why string) {
	type ce struct {
		SpecVersion string          `json:"specversion"`
		Type        string          `json:"type"`
		Source      string          `json:"source"`
		ID          string          `json:"id"`
		Data        json.RawMessage `json:"data"`
	}
	batch := make([]ce, len(ids))
	for i, id := range ids {
		batch[i] = ce{"1.0", "job", jobSource, id, json.RawMessage(`{"n":"` + id + `"}`)}
	}
	body, _ := json.Marshal(batch)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/events", bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/cloudevents-batch+json")
	resp, err := p.client.Do(req)
	if err != nil {
		return ids, "connection"
	}
	defer resp.Body.Close()
	var r struct {
		IDs   []string `json:"ids"`
		Error string   `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &r); err != nil && resp.StatusCode < 300 {
		return ids, fmt.Sprintf("%d with an unreadable body %q", resp.StatusCode, raw)
	}
	n := len(r.IDs)
	if resp.StatusCode < 300 {
		n = len(ids)
	}
	p.mu.Lock()
	for _, id := range ids[:n] {
		if !p.accepted[id] {
			p.accepted[id] = true
			p.n.Add(1)
		}
	}
	p.mu.Unlock()
	if resp.StatusCode < 300 {
		return nil, ""
	}
	return ids[n:], fmt.Sprintf("%d %s", resp.StatusCode, firstLine(r.Error))
}

// feed posts ids in batches of size batch from workers goroutines until
// each one is accepted or ctx ends, and returns those left unaccepted. A
// worker starts a batch every interval at most (0: at once), sends it to
// one of the addresses addrs returns at that moment, and what was refused
// to the next, after a pause that grows with the attempts.
func (p *producer) feed(ctx context.Context, ids []string, workers, batch int, interval time.Duration, addrs func() []string) (left []string) {
	batches := make(chan []string, len(ids)/batch+1)
	for b := range slices.Chunk(ids, batch) {
		batches <- b
	}
	close(batches)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			next := time.Now()
			for b := range batches {
				if interval > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(time.Until(next)):
					}
					next = time.Now().Add(interval)
				}
				rest := b
				for attempt := 0; len(rest) > 0; attempt++ {
					select {
					case <-ctx.Done():
						mu.Lock()
						left = append(left, rest...)
						mu.Unlock()
						rest = nil
						continue
					default:
					}
					as := addrs()
					var why string
					rest, why = p.post(ctx, as[(w+attempt)%len(as)], rest)
					if why != "" {
						p.mu.Lock()
						p.refused[why]++
						p.mu.Unlock()
						select {
						case <-ctx.Done():
						case <-time.After(time.Duration(min(attempt+1, 20)) * 25 * time.Millisecond):
						}
					}
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(left)
	return left
}

func (p *producer) acceptedIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.accepted))
	for id := range p.accepted {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (p *producer) refusals() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.refused)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// natsConnect connects to url, retrying while the server starts.
func natsConnect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
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

// progress is the state of the test subscriptions' consumers.
type progress struct {
	// handled is the least number of events that every subscription has
	// handled (its ack floor), pending the most events some subscription
	// has not (num_pending + num_ack_pending).
	handled, pending uint64
	infos            map[string]*jetstream.ConsumerInfo
}

func (p progress) drained() bool { return p.pending == 0 }

func (p progress) String() string {
	var b strings.Builder
	for _, s := range testSubs {
		ci := p.infos[s.name]
		if ci == nil {
			continue
		}
		fmt.Fprintf(&b, "%s: delivered %d, ack floor %d, num_pending %d, num_ack_pending %d, redelivered %d; ",
			s.name, ci.Delivered.Consumer, ci.AckFloor.Consumer, ci.NumPending, ci.NumAckPending, ci.NumRedelivered)
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// consumers returns the progress of the test subscriptions.
func consumers(ctx context.Context, js jetstream.JetStream) (progress, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p := progress{handled: ^uint64(0), infos: map[string]*jetstream.ConsumerInfo{}}
	for _, s := range testSubs {
		c, err := js.Consumer(ctx, eventsStream, s.name)
		if err != nil {
			return progress{}, fmt.Errorf("consumer %s: %w", s.name, err)
		}
		ci, err := c.Info(ctx)
		if err != nil {
			return progress{}, fmt.Errorf("consumer %s: %w", s.name, err)
		}
		p.infos[s.name] = ci
		p.handled = min(p.handled, ci.AckFloor.Consumer)
		p.pending = max(p.pending, ci.NumPending+uint64(ci.NumAckPending))
	}
	return p, nil
}

// waitProgress polls the consumers until ok says their progress is
// enough, and returns it; it fails the test after the bound d.
func waitProgress(t *testing.T, js jetstream.JetStream, d time.Duration, what string, ok func(progress) bool) progress {
	t.Helper()
	deadline := time.Now().Add(d)
	var last progress
	var lastErr error
	for time.Now().Before(deadline) {
		p, err := consumers(t.Context(), js)
		if err == nil && ok(p) {
			return p
		}
		if err == nil {
			last = p
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not after %v (last error %v; %v)", what, d, lastErr, last)
	return progress{}
}

// journal is what the event stream holds: the jobs and the emits of the
// subscriptions.
type journal struct {
	jobs     map[string]uint64 // job id -> stream sequence
	jobMsgs  int               // messages of jobs, doubles included
	emits    map[string][]emit // subscription -> its emits, in stream order
	lastSeq  uint64
	messages int
}

// emit is one message of a subscription's emit.
type emit struct {
	id, parent, node string
	seq              uint64
}

// retryJS calls f until it succeeds, for up to 30 seconds: the JetStream
// API answers "no responders" or times out while a cluster elects a leader.
func retryJS(t *testing.T, what string, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// streamInfo returns the info of stream name.
func streamInfo(t *testing.T, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	var info *jetstream.StreamInfo
	retryJS(t, "stream "+name, func(ctx context.Context) error {
		s, err := js.Stream(ctx, name)
		if err == nil {
			info, err = s.Info(ctx)
		}
		return err
	})
	return info
}

// readJournal reads every message of the event stream.
func readJournal(t *testing.T, js jetstream.JetStream) *journal {
	t.Helper()
	var j *journal
	retryJS(t, "reading the stream", func(ctx context.Context) (err error) {
		j, err = tryReadJournal(ctx, js)
		return err
	})
	return j
}

func tryReadJournal(ctx context.Context, js jetstream.JetStream) (*journal, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, eventsStream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	j := &journal{jobs: map[string]uint64{}, emits: map[string][]emit{}, lastSeq: info.State.LastSeq}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	emitOf := map[string]string{}
	for _, s := range testSubs {
		emitOf[s.emit] = s.name
	}
	for seq := uint64(0); seq < j.lastSeq; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			seq = md.Sequence.Stream
			j.messages++
			h := m.Headers()
			switch typ := h.Get("ce-type"); {
			case typ == "job":
				j.jobMsgs++
				j.jobs[h.Get("ce-id")] = seq
			case emitOf[typ] != "":
				j.emits[emitOf[typ]] = append(j.emits[emitOf[typ]], emit{
					id: h.Get("ce-id"), parent: h.Get("ce-causationid"), node: string(m.Data()), seq: seq})
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("reading the stream: stuck at sequence %d of %d", seq, j.lastSeq)
		}
	}
	return j, nil
}

// check asserts what a crash, a stopped daemon or a lost node must not
// change: every accepted job, and every job in the stream (some were
// stored though their producer saw an error), was handled by every
// subscription, whose emit is in the stream once, not twice; and nothing
// was dead-lettered.
func (j *journal) check(t *testing.T, js jetstream.JetStream, accepted []string) {
	t.Helper()
	if j.jobMsgs != len(j.jobs) {
		t.Errorf("%d messages of jobs for %d distinct jobs: the dedup window let a resent job in twice", j.jobMsgs, len(j.jobs))
	}
	var missing []string
	for _, id := range accepted {
		if _, ok := j.jobs[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d accepted jobs are not in the stream: %v", len(missing), head(missing))
	}
	for _, s := range testSubs {
		byParent := map[string]emit{}
		ids := map[string]bool{}
		for _, e := range j.emits[s.name] {
			if _, ok := j.jobs[e.parent]; !ok {
				t.Errorf("%s emitted %s for job %q, which is not in the stream", s.name, e.id, e.parent)
			}
			if prev, dup := byParent[e.parent]; dup {
				t.Errorf("%s emitted twice for job %s: ids %s (seq %d, node %s) and %s (seq %d, node %s)",
					s.name, e.parent, prev.id, prev.seq, prev.node, e.id, e.seq, e.node)
			}
			byParent[e.parent] = e
			ids[e.id] = true
		}
		if n := len(j.emits[s.name]); n != len(ids) {
			t.Errorf("%s: %d emits in the stream for %d distinct ids: doubled emits", s.name, n, len(ids))
		}
		var unhandled []string
		for id := range j.jobs {
			if _, ok := byParent[id]; !ok {
				unhandled = append(unhandled, id)
			}
		}
		slices.Sort(unhandled)
		if len(unhandled) > 0 {
			t.Errorf("%s: %d of %d jobs in the stream were never handled: %v", s.name, len(unhandled), len(j.jobs), head(unhandled))
		}
	}
	var p progress
	retryJS(t, "the consumers", func(ctx context.Context) (err error) {
		p, err = consumers(ctx, js)
		return err
	})
	for _, s := range testSubs {
		if ci := p.infos[s.name]; ci.NumPending != 0 || ci.NumAckPending != 0 {
			t.Errorf("consumer %s: num_pending %d, num_ack_pending %d, want 0", s.name, ci.NumPending, ci.NumAckPending)
		}
	}
	if n := streamInfo(t, js, dlqStream).State.Msgs; n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
}

// byNode counts the emits of subscription sub by the node that handled
// their job, counting only jobs stored after sequence after.
func (j *journal) byNode(sub string, after uint64) map[string]int {
	n := map[string]int{}
	for _, e := range j.emits[sub] {
		if j.jobs[e.parent] > after {
			n[e.node]++
		}
	}
	return n
}

func head(s []string) []string {
	if len(s) > 10 {
		return append(s[:10:10], "...")
	}
	return s
}
