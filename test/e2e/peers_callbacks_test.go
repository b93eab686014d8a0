package e2e

import (
	"context"
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
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	time.Sleep(time.Second) // room for late calls
	if n := late.Load(); n != 0 {
		t.Fatalf("OnViewer ran %d time(s) after Run returned; events: %v", n, events.states("watcher"))
	}
}
