package e2e

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
)

// TestPeersJoinLeaveNoLeak runs 20 viewers one after the other against
// one master in this process, relay forced: each receives video and
// leaves, the master frees every PeerConnection, and the process ends with
// no more goroutines than after the first cycle.
func TestPeersJoinLeaveNoLeak(t *testing.T) {
	srv := startRelayServer(t)
	joinLeaveCycles(t, srv, true, 20)
}

// joinLeaveCycles runs the join/leave cycles of TestPeersJoinLeaveNoLeak.
func joinLeaveCycles(t *testing.T, srv *server, relay bool, cycles int) {
	kvs := srv.goClient(t)
	master, _ := startMaster(t, kvs, client.MasterConfig{Channel: "cycles", CreateChannel: true, ICE: loopbackICE(relay), Video: fileSource(t, "clip.ivf")})
	baseline := 0
	for i := range cycles {
		viewer, run := startViewer(t, kvs, client.ViewerConfig{Channel: "cycles", CreateChannel: true, ClientID: fmt.Sprintf("cycle-%d", i), ICE: loopbackICE(relay)})
		waitFor(t, 30*time.Second, fmt.Sprintf("viewer %d to receive video", i), func() bool { return viewer.Stats().VideoFrames >= 3 })
		if relay && viewer.Stats().LocalCandidate != "relay" {
			t.Fatalf("viewer %d: %s; want relay candidates", i, describeStats(viewer.Stats()))
		}
		if err := run.stop(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, fmt.Sprintf("the master to free viewer %d's peer connection", i), func() bool { return master.PeerCount() == 0 })
		if i == 0 {
			baseline = settledGoroutines()
		}
	}
	// Some goroutines end a moment after the PeerConnection closes (timers,
	// socket readers); wait for them before judging.
	deadline := time.Now().Add(15 * time.Second)
	n := runtime.NumGoroutine()
	for n > baseline+2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > baseline+2 {
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Fatalf("%d goroutines after %d cycles, %d after the first:\n%s", n, cycles, baseline, buf.String())
	}
	t.Logf("%d goroutines after the first cycle, %d after %d", baseline, n, cycles)
}

// settledGoroutines waits for the goroutine count to stop falling.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 20 {
		time.Sleep(100 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			return min(m, n)
		}
		n = m
	}
	return n
}

// TestPeersICERestart restarts ICE on a connected viewer: the same
// PeerConnection reconnects (the master keeps one) and the video goes on.
func TestPeersICERestart(t *testing.T) {
	srv := startServer(t, serverOptions{})
	kvs := srv.goClient(t)
	master, _ := startMaster(t, kvs, client.MasterConfig{Channel: "restart-ice", CreateChannel: true, ICE: loopbackICE(false), Video: fileSource(t, "clip.ivf")})
	viewer, _ := startViewer(t, kvs, client.ViewerConfig{Channel: "restart-ice", CreateChannel: true, ICE: loopbackICE(false)})
	waitFor(t, 30*time.Second, "video", func() bool { return viewer.Stats().VideoFrames >= 30 })
	if err := viewer.RestartICE(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the ICE restart", func() bool { return viewer.Stats().ICERestarts == 1 })
	frames := viewer.Stats().VideoFrames
	waitFor(t, 20*time.Second, "video after the restart", func() bool { return viewer.Stats().VideoFrames >= frames+30 })
	if st := viewer.Stats(); st.PeerConnections != 1 || st.State != "connected" || master.PeerCount() != 1 {
		t.Fatalf("after the ICE restart: %s; master holds %d", describeStats(st), master.PeerCount())
	}
}

// TestPeersSurviveServerRestart restarts the server (GO_AWAY, then a new
// process on the same port) under a master and a viewer connected
// directly: the media keeps flowing, both signaling clients reconnect on
// their own, and an ICE restart afterwards goes through the new server.
func TestPeersSurviveServerRestart(t *testing.T) {
	srv := startServer(t, serverOptions{args: []string{"--addr", freeLoopbackAddr(t)}})
	kvs := srv.goClient(t)
	startMaster(t, kvs, client.MasterConfig{Channel: "goaway", CreateChannel: true, ICE: loopbackICE(false), Video: fileSource(t, "clip.ivf")})
	viewer, _ := startViewer(t, kvs, client.ViewerConfig{Channel: "goaway", CreateChannel: true, ClientID: "stays", ICE: loopbackICE(false)})
	waitFor(t, 30*time.Second, "video", func() bool { return viewer.Stats().VideoFrames >= 30 })

	srv.stop()
	frames := viewer.Stats().VideoFrames
	waitFor(t, 10*time.Second, "video while the server is down", func() bool { return viewer.Stats().VideoFrames >= frames+15 })
	srv.restart() // the new process's output starts empty
	waitFor(t, 30*time.Second, "both peers to reconnect their signaling", func() bool {
		return strings.Count(srv.Output(), "signaling connection accepted") >= 2
	})
	if err := viewer.RestartICE(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "an ICE restart through the new server", func() bool { return viewer.Stats().ICERestarts == 1 })
	if st := viewer.Stats(); st.PeerConnections != 1 || st.State != "connected" {
		t.Fatalf("after the server restart: %s", describeStats(st))
	}
}

// freeLoopbackAddr returns a loopback address with a port free right now,
// for a server that must come back on the same port.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestPeersRelayOutlivesTURNCredentials keeps a relay-forced call going
// past the lifetime of the TURN credentials it started with (31 s, the
// shortest allowed). The relay ends allocations whose credentials expire,
// so the viewer restarts ICE with fresh credentials before then and the
// master answers with fresh ones too: the same PeerConnection carries on,
// and no allocation is cut by expiry.
func TestPeersRelayOutlivesTURNCredentials(t *testing.T) {
	srv := startServer(t, serverOptions{args: append(slices.Clone(turnFlags), "--turn-credential-ttl=31s")})
	kvs := srv.goClient(t)
	started := time.Now()
	startMaster(t, kvs, client.MasterConfig{Channel: "ttl", CreateChannel: true, ICE: loopbackICE(true), Video: fileSource(t, "clip.ivf")})
	viewer, _ := startViewer(t, kvs, client.ViewerConfig{Channel: "ttl", CreateChannel: true, ICE: loopbackICE(true)})
	waitFor(t, 30*time.Second, "video", func() bool { return viewer.Stats().VideoFrames >= 30 })

	// Past the first credentials' expiry, with time for a lost path to
	// be noticed (3 s) and replaced (8 s) had the restart not happened.
	time.Sleep(time.Until(started.Add(31*time.Second + 15*time.Second)))
	frames := viewer.Stats().VideoFrames
	waitFor(t, 20*time.Second, "video after the credentials expired", func() bool { return viewer.Stats().VideoFrames >= frames+30 })
	st := viewer.Stats()
	if st.PeerConnections != 1 || st.ICERestarts < 1 {
		t.Fatalf("after the first TURN credentials expired: %s; want the first PeerConnection, moved by an ICE restart", describeStats(st))
	}
	if cut := metricValue(srv.metricsText(t), "switchboard_turn_allocation_expiries_total"); cut != 0 {
		t.Fatalf("%v allocations ended by credential expiry, want 0", cut)
	}
}
