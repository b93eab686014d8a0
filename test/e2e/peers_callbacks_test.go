package e2e

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
)

// TestMasterOnViewerNotAfterRun: once Master.Run has returned, OnViewer
// is neither running nor called again, even for the viewer closed on the
// way out, so that a program may free what its callback uses as soon as
// Run returns. The callback takes a moment over each "closed" event, as
// one that writes to a file or a database would.
func TestMasterOnViewerNotAfterRun(t *testing.T) {
	_, kvs, _ := signalingChannel(t, "callbacks")
	events := newViewerLog()
	var returned atomic.Bool
	var late atomic.Int32
	onViewer := func(ev client.ViewerEvent) {
		events.add(ev)
		if ev.State == "closed" {
			time.Sleep(300 * time.Millisecond)
		}
		if returned.Load() {
			late.Add(1)
		}
	}
	m, err := client.NewMaster(client.MasterConfig{Client: kvs, Channel: "callbacks", ICE: loopbackICE(false), OnViewer: onViewer})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := m.Run(ctx)
		returned.Store(true)
		done <- err
	}()
	startViewer(t, kvs, client.ViewerConfig{Channel: "callbacks", ClientID: "watcher", ICE: loopbackICE(false)})
	events.await(t, "the viewer connected", viewerIn("watcher", "connected"))

	cancel()
	awaitRun(t, done)
	time.Sleep(time.Second) // room for late calls
	if n := late.Load(); n != 0 {
		t.Fatalf("OnViewer ran %d time(s) after Run returned; events: %v", n, events.states("watcher"))
	}
}

// slowCallback stands for a user callback that takes a moment (writing
// to a file or a database): it says when it first starts, and counts the
// calls running and those that were still running, or began, once Run
// had returned.
type slowCallback struct {
	takes    time.Duration
	started  chan struct{}
	once     sync.Once
	running  atomic.Int32
	returned atomic.Bool
	late     atomic.Int32
}

func newSlowCallback(takes time.Duration) *slowCallback {
	return &slowCallback{takes: takes, started: make(chan struct{})}
}

func (c *slowCallback) call() {
	c.running.Add(1)
	defer c.running.Add(-1)
	if c.returned.Load() {
		c.late.Add(1)
	}
	c.once.Do(func() { close(c.started) })
	time.Sleep(c.takes)
}

// stopDuring runs fn (a peer's Run), ends its context once the callback
// has started, and fails if the callback was still running when Run
// returned, or is called afterwards.
func (c *slowCallback) stopDuring(t *testing.T, what string, fn func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var runningAtReturn int32
	go func() {
		err := fn(ctx)
		runningAtReturn = c.running.Load()
		c.returned.Store(true)
		done <- err
	}()
	select {
	case <-c.started:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s was not called", what)
	}
	cancel()
	awaitRun(t, done)
	if runningAtReturn != 0 {
		t.Fatalf("%s was still running when Run returned", what)
	}
	time.Sleep(time.Second) // room for late calls
	if n := c.late.Load(); n != 0 {
		t.Fatalf("%s was called %d time(s) after Run returned", what, n)
	}
}

// TestViewerOnDataChannelOpenNotAfterRun: pion calls a data channel's
// open handler on a goroutine of its own, which closing the
// PeerConnection does not wait for; Viewer.Run must still not return
// while OnDataChannelOpen runs, nor call it afterwards.
func TestViewerOnDataChannelOpenNotAfterRun(t *testing.T) {
	_, kvs, _ := signalingChannel(t, "open-callback")
	startMaster(t, kvs, client.MasterConfig{Channel: "open-callback", ICE: loopbackICE(false)})
	onOpen := newSlowCallback(2 * time.Second)
	v, err := client.NewViewer(client.ViewerConfig{Client: kvs, Channel: "open-callback", ClientID: "watcher",
		ICE: loopbackICE(false), DataChannel: true, OnDataChannelOpen: onOpen.call})
	if err != nil {
		t.Fatal(err)
	}
	onOpen.stopDuring(t, "OnDataChannelOpen", v.Run)
}

// TestMasterOnMessageNotAfterRun: Master.Run must not return while
// OnMessage runs, nor call it afterwards. Closing a PeerConnection waits
// for its data channels' readers, which run OnMessage, but only for the
// master's grace of 5 seconds: a longer callback outlived Run.
func TestMasterOnMessageNotAfterRun(t *testing.T) {
	_, kvs, _ := signalingChannel(t, "message-callback")
	onMessage := newSlowCallback(6 * time.Second)
	m, err := client.NewMaster(client.MasterConfig{Client: kvs, Channel: "message-callback", ICE: loopbackICE(false),
		OnMessage: func(string, []byte) { onMessage.call() }})
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{}, 1)
	v, err := client.NewViewer(client.ViewerConfig{Client: kvs, Channel: "message-callback", ClientID: "talker", ICE: loopbackICE(false),
		DataChannel: true, OnDataChannelOpen: func() { opened <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	start(t, "viewer", v.Run)
	go func() {
		<-opened
		_ = v.Send([]byte("hello"))
	}()
	onMessage.stopDuring(t, "OnMessage", m.Run)
}

// awaitRun waits for a peer's Run to return without an error.
func awaitRun(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
}
