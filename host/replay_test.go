package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/replay"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// handledCounter is a dispatch.Observer that counts successful runs per
// route and lets a test wait for a number of them.
type handledCounter struct {
	mu   sync.Mutex
	cond *sync.Cond
	n    map[string]int
}

func newHandledCounter() *handledCounter {
	c := &handledCounter{n: map[string]int{}}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *handledCounter) Handled(route string, _ *event.Event, _ int, out dispatch.Outcome, _ time.Duration) {
	if out.Status != dispatch.Done {
		return
	}
	c.mu.Lock()
	c.n[route]++
	c.mu.Unlock()
	c.cond.Broadcast()
}

// wait waits until route has handled n events.
func (c *handledCounter) wait(t *testing.T, route string, n int) {
	t.Helper()
	timer := time.AfterFunc(waitLimit, c.cond.Broadcast)
	defer timer.Stop()
	deadline := time.Now().Add(waitLimit)
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.n[route] < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s handled %d events, want %d", route, c.n[route], n)
		}
		c.cond.Wait()
	}
}

// newHost builds and starts a host on the config text, with the data dir
// under dir and obs as its observer.
func newHost(t *testing.T, dir, toml string, obs dispatch.Observer) *host.Host {
	t.Helper()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte("[host]\ndata_dir = \"data\"\n"+toml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		h.Close(ctx)
	})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h
}

// Replay runs the live version again over a recorded range; shadow replay
// runs a candidate over it and reports how its emits differ from those
// the live version recorded, publishing nothing.
func TestReplayAndShadowReplay(t *testing.T) {
	dir := t.TempDir()
	echoWAT, err := os.ReadFile("wasm/testdata/echo.wat")
	if err != nil {
		t.Fatal(err)
	}
	live := wasmbuild.WAT(t, string(echoWAT))
	// The candidate emits echo.put where the live version emits echo.out.
	candidate := wasmbuild.WAT(t, string(bytes.ReplaceAll(echoWAT, []byte(`"echo.out`), []byte(`"echo.put`))))
	counter := newHandledCounter()
	h := newHost(t, dir, fmt.Sprintf(`
[plugins.echo]
path = %q
events = ["job.*"]
`, writeWasm(t, dir, "echo", live)), counter)
	ctx := context.Background()

	// The recorded stream: 4 events that emit, 3 that do not, 2 of types
	// the subscription does not take.
	datas := []string{"efirst", "s0", "esecond", "s0", "other", "ethird", "s0", "other", "efourth"}
	var seqs []uint64
	for i, d := range datas {
		typ := "job.run"
		if d == "other" {
			typ = "mail.sent"
		}
		e := &event.Event{Type: typ, ID: fmt.Sprintf("job-%d", i), DataContentType: "text/plain", Data: []byte(d)}
		ack, err := h.Publish(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ack.Seq)
	}
	counter.wait(t, "echo", 7)
	h.FlushRuns(ctx)

	t.Run("replay", func(t *testing.T) {
		rep, err := h.Replay(ctx, replay.Options{Subscription: "echo"})
		if err != nil {
			t.Fatal(err)
		}
		// Every emit is a repeat inside the dedup window: dropped.
		want := api.ReplayReport{Subscription: "echo", Emit: true, FirstSeq: seqs[0], LastSeq: seqs[8],
			Events: 7, Done: 7, Emitted: 4, Duplicates: 4}
		checkReport(t, rep, want)
	})
	t.Run("replay a window without emits", func(t *testing.T) {
		rep, err := h.Replay(ctx, replay.Options{Subscription: "echo", FromSeq: seqs[2], ToSeq: seqs[5], NoEmit: true})
		if err != nil {
			t.Fatal(err)
		}
		checkReport(t, rep, api.ReplayReport{Subscription: "echo", FirstSeq: seqs[2], LastSeq: seqs[5],
			Events: 3, Done: 3, Emitted: 2})
	})
	t.Run("shadow of the live module", func(t *testing.T) {
		rep, err := h.Replay(ctx, replay.Options{Subscription: "echo", Candidate: live})
		if err != nil {
			t.Fatal(err)
		}
		checkReport(t, rep, api.ReplayReport{Subscription: "echo", Shadow: true, FirstSeq: seqs[0], LastSeq: seqs[8],
			Events: 7, Done: 7, Emitted: 4, Same: 7})
	})
	// marker publishes an event no subscription takes and returns its
	// sequence: two markers one apart prove nothing was published between.
	marker := func() uint64 {
		ack, err := h.Publish(ctx, &event.Event{Type: "test.marker"})
		if err != nil {
			t.Fatal(err)
		}
		return ack.Seq
	}
	t.Run("shadow of a candidate", func(t *testing.T) {
		before := marker()
		rep, err := h.Replay(ctx, replay.Options{Subscription: "echo", Candidate: candidate})
		if err != nil {
			t.Fatal(err)
		}
		if after := marker(); after != before+1 {
			t.Errorf("the shadow replay published %d events", after-before-1)
		}
		checkReport(t, rep, api.ReplayReport{Subscription: "echo", Shadow: true, FirstSeq: seqs[0], LastSeq: seqs[8],
			Events: 7, Done: 7, Emitted: 4, Same: 3, Different: 4})
		var got []string
		for _, d := range rep.Diffs {
			got = append(got, fmt.Sprintf("%d %s %v", d.Seq, d.EventID, d.Differences))
			if len(d.Live) != 1 || len(d.Candidate) != 1 {
				t.Errorf("diff of %s: %d live and %d candidate emits, want 1 and 1", d.EventID, len(d.Live), len(d.Candidate))
			}
		}
		typeDiff := `[emit 0: type: live "echo.out", candidate "echo.put"]`
		want := []string{
			fmt.Sprintf("%d job-0 %s", seqs[0], typeDiff), fmt.Sprintf("%d job-2 %s", seqs[2], typeDiff),
			fmt.Sprintf("%d job-5 %s", seqs[5], typeDiff), fmt.Sprintf("%d job-8 %s", seqs[8], typeDiff),
		}
		if !slices.Equal(got, want) {
			t.Errorf("diffs:\n got %q\nwant %q", got, want)
		}
	})
	t.Run("admin endpoint", func(t *testing.T) {
		srv := httptest.NewServer(h.Handler())
		defer srv.Close()
		call := func(query, ct string, body []byte) (int, []byte) {
			t.Helper()
			resp, err := http.Post(srv.URL+"/v1/admin/replay?"+query, ct, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}
		code, body := call(fmt.Sprintf("subscription=echo&from_seq=%d&emit=false", seqs[5]), "", nil)
		var rep api.ReplayReport
		if code != http.StatusOK || json.Unmarshal(body, &rep) != nil || rep.Events != 3 || rep.Emit || rep.Shadow {
			t.Errorf("replay: %d %s; want 200, 3 events, no emit", code, body)
		}
		code, body = call("subscription=echo", "application/wasm", candidate)
		rep = api.ReplayReport{}
		if code != http.StatusOK || json.Unmarshal(body, &rep) != nil || !rep.Shadow || rep.Different != 4 {
			t.Errorf("shadow: %d %s; want 200, shadow, 4 different", code, body)
		}
		for _, c := range []struct {
			query string
			code  int
		}{
			{"", http.StatusBadRequest},
			{"subscription=echo&from_seq=x", http.StatusBadRequest},
			{"subscription=echo&from_seq=1&from_time=2026-01-01T00:00:00Z", http.StatusBadRequest},
			{"subscription=echo&to_time=yesterday", http.StatusBadRequest},
			{"subscription=echo&emit=maybe", http.StatusBadRequest},
			{"subscription=nope", http.StatusNotFound},
		} {
			if code, body := call(c.query, "", nil); code != c.code {
				t.Errorf("%q: %d %s; want %d", c.query, code, body, c.code)
			}
		}
		if code, body := call("subscription=echo", "application/wasm", []byte("not wasm")); code != http.StatusUnprocessableEntity {
			t.Errorf("a broken candidate: %d %s; want 422", code, body)
		}
	})
}

func checkReport(t *testing.T, got *api.ReplayReport, want api.ReplayReport) {
	t.Helper()
	g := *got
	g.Version, g.Took, g.Diffs, g.Failures = "", 0, nil, nil
	if !reflect.DeepEqual(g, want) {
		t.Errorf("report:\n got %+v\nwant %+v", g, want)
	}
}

// Replay needs a journal: the memory broker refuses it.
func TestReplayNeedsAJournal(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, dir, fmt.Sprintf(`
[broker]
kind = "memory"
[plugins.echo]
path = %q
events = ["job.*"]
`, writeWasm(t, dir, "echo", wasmbuild.WATFile(t, "wasm/testdata/echo.wat"))), nil)
	if _, err := h.Replay(context.Background(), replay.Options{Subscription: "echo"}); !errors.Is(err, replay.ErrNoJournal) {
		t.Errorf("Replay on the memory broker: %v; want ErrNoJournal", err)
	}
}

// A New that fails returns its error (not a panic) and closes what it had
// opened: the embedded broker's store can be opened again at once.
func TestNewFailureClosesWhatItOpened(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	os.WriteFile(path, []byte("[host]\ndata_dir = \"data\"\n[plugins.gone]\npath = \"missing.wasm\"\nevents = [\"x\"]\n"), 0o644)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)}); err == nil || !strings.Contains(err.Error(), "missing.wasm") {
		t.Fatalf("New with a missing plugin: %v", err)
	}
	newHost(t, dir, "", nil) // the same data dir, no plugin
}
