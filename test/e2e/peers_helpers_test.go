package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/client/media"
)

// clip returns the path of a test clip made by testdata/make-clips.sh.
func clip(name string) string {
	p, _ := filepath.Abs(filepath.Join("..", "..", "testdata", name))
	return p
}

// loopbackICE keeps a peer's candidates on the loopback interface; with
// relay set it uses TURN relays only.
func loopbackICE(relay bool) client.ICEConfig {
	return client.ICEConfig{RelayOnly: relay, Interfaces: []string{"lo"}}
}

// turnFlags are the serve flags of the embedded TURN server on loopback,
// allowed to relay to loopback peers.
var turnFlags = []string{
	"--turn-udp-addr", "127.0.0.1:0",
	"--turn-tcp-addr", "127.0.0.1:0",
	"--turn-allow-peer", "127.0.0.0/8",
}

var (
	turnOnce    sync.Once
	turnMissing string
)

// startRelayServer starts a server with its embedded TURN relay on
// loopback, and the extra flags. It fails the test, saying why, when the
// server has no TURN flags yet.
func startRelayServer(t *testing.T, extra ...string) *server {
	t.Helper()
	turnOnce.Do(func() {
		out, _ := exec.Command(binary, "serve", "-h").CombinedOutput()
		for _, flag := range []string{"turn-udp-addr", "turn-tcp-addr", "turn-allow-peer"} {
			if !strings.Contains(string(out), "-"+flag) {
				turnMissing += " --" + flag
			}
		}
	})
	if turnMissing != "" {
		t.Fatalf("relay-forced test: `switchboard serve` has no%s flag yet, so the server cannot relay; "+
			"this test needs the embedded TURN server wired into serve", turnMissing)
	}
	return startServer(t, serverOptions{args: append(slices.Clone(turnFlags), extra...)})
}

// fileSource opens a looping test clip.
func fileSource(t *testing.T, name string) *media.FileSource {
	t.Helper()
	src, err := media.OpenFile(clip(name), media.FileOptions{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// running is a peer's Run in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

// start runs fn until stop or the end of the test, which fails if fn
// returned an error.
func start(t *testing.T, name string, fn func(context.Context) error) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- fn(ctx) }()
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
	return r
}

// stop ends the peer and returns Run's error.
func (r *running) stop() error {
	r.cancel()
	select {
	case err, ok := <-r.done:
		if !ok {
			return nil
		}
		close(r.done)
		return err
	case <-time.After(30 * time.Second):
		return errors.New("Run did not return within 30s of its context's end")
	}
}

// startMaster runs a master on a channel of srv.
func startMaster(t *testing.T, kvs *client.Client, cfg client.MasterConfig) (*client.Master, *running) {
	t.Helper()
	cfg.Client = kvs
	m, err := client.NewMaster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, start(t, "master", m.Run)
}

// startViewer runs a viewer on a channel of srv.
func startViewer(t *testing.T, kvs *client.Client, cfg client.ViewerConfig) (*client.Viewer, *running) {
	t.Helper()
	cfg.Client = kvs
	v, err := client.NewViewer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v, start(t, "viewer "+v.ClientID(), v.Run)
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// describeStats is a viewer's statistics for failure messages.
func describeStats(s client.ViewerStats) string {
	return fmt.Sprintf("state %q, pair %s/%s, %d video frames, %d audio, %d peer connections",
		s.State, s.LocalCandidate, s.RemoteCandidate, s.VideoFrames, s.AudioFrames, s.PeerConnections)
}

// viewerLog records the ViewerEvents a Master reports through OnViewer.
type viewerLog struct {
	mu     sync.Mutex
	events []client.ViewerEvent
	grown  chan struct{} // closed, then replaced, whenever an event arrives
}

func newViewerLog() *viewerLog { return &viewerLog{grown: make(chan struct{})} }

// add is the OnViewer callback.
func (l *viewerLog) add(ev client.ViewerEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
	close(l.grown)
	l.grown = make(chan struct{})
}

// lookup returns the earliest recorded event that match accepts; when
// there is none, it returns a channel closed by the next event.
func (l *viewerLog) lookup(match func(client.ViewerEvent) bool) (client.ViewerEvent, bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.events {
		if match(ev) {
			return ev, true, nil
		}
	}
	return client.ViewerEvent{}, false, l.grown
}

// has reports whether an event that match accepts was recorded.
func (l *viewerLog) has(match func(client.ViewerEvent) bool) bool {
	_, ok, _ := l.lookup(match)
	return ok
}

// await returns the first event that match accepts, waiting for it; the
// limit only keeps a broken run from hanging.
func (l *viewerLog) await(t *testing.T, what string, match func(client.ViewerEvent) bool) client.ViewerEvent {
	t.Helper()
	limit := time.After(90 * time.Second)
	for {
		ev, ok, grown := l.lookup(match)
		if ok {
			return ev
		}
		select {
		case <-grown:
		case <-limit:
			t.Fatalf("no event for %s; events so far: %s", what, l)
		}
	}
}

// states lists the states reported for one viewer, oldest first.
func (l *viewerLog) states(viewerID string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ev := range l.events {
		if ev.ViewerID == viewerID {
			out = append(out, ev.State)
		}
	}
	return out
}

// String lists every event, for failure messages.
func (l *viewerLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%+v", l.events)
}

// viewerIn matches the events of one viewer in one state.
func viewerIn(viewerID, state string) func(client.ViewerEvent) bool {
	return func(ev client.ViewerEvent) bool { return ev.ViewerID == viewerID && ev.State == state }
}
