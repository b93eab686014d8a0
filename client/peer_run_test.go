package client

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// TestRunStoppedDuringJoin: a Master or Viewer whose ctx ends while it
// is still joining the channel returns nil, as Run documents.
func TestRunStoppedDuringJoin(t *testing.T) {
	arrived := make(chan struct{}, 4)
	release := make(chan struct{})
	srv := quietTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so that a client leaving ends r's context
		arrived <- struct{}{}
		select { // the join hangs until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	kvs, err := New(Config{Endpoint: srv.URL, Region: "us-west-2", Credentials: testCreds, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMaster(MasterConfig{Client: kvs, Channel: "c"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewViewer(ViewerConfig{Client: kvs, Channel: "c"})
	if err != nil {
		t.Fatal(err)
	}
	for name, run := range map[string]func(context.Context) error{"master": m.Run, "viewer": v.Run} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx) }()
		select {
		case <-arrived:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no request", name)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: Run returned %v, want nil", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Run did not return", name)
		}
	}
}

// connectedPair returns a PeerConnection of api connected over loopback
// to another one, which the test closes.
func connectedPair(t *testing.T, api *webrtc.API) *webrtc.PeerConnection {
	t.Helper()
	a, _ := connectedPeers(t, api)
	return a
}

// connectedPeers returns the offerer and the answerer of a connected
// loopback pair made with api.
func connectedPeers(t *testing.T, api *webrtc.API) (*webrtc.PeerConnection, *webrtc.PeerConnection) {
	t.Helper()
	a, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	if _, err := a.CreateDataChannel("x", nil); err != nil {
		t.Fatal(err)
	}
	offer, err := a.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	answerOffer(t, b, a)
	deadline := time.Now().Add(10 * time.Second)
	for a.ConnectionState() != webrtc.PeerConnectionStateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("loopback pair did not connect: %s", a.ConnectionState())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return a, b
}

// TestViewerAfterRejoin: after a new join, a connected PeerConnection is
// kept and any other is replaced by a new offer, as after a reconnection.
func TestViewerAfterRejoin(t *testing.T) {
	h := newScriptedPeer(t, func(h *scriptedPeer, n int, w http.ResponseWriter, r *http.Request) {
		if ws := h.accept(w, r); ws != nil {
			drain(ws)
		}
	})
	sig := dialScripted(t, h.config(kvsapi.RoleViewer, "v1"))
	kvs, err := New(Config{Endpoint: "https://127.0.0.1:1", Region: "us-west-2", Credentials: testCreds})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewViewer(ViewerConfig{Client: kvs, Channel: "c", ClientID: "v1", ICE: ICEConfig{Interfaces: []string{"lo"}}})
	if err != nil {
		t.Fatal(err)
	}
	v.timer = time.NewTimer(time.Hour)
	defer v.timer.Stop()
	// A fresh, empty list: newSession needs no request.
	v.ice = &iceServerCache{kvs: kvs, fetched: true, expires: time.Now().Add(time.Hour)}
	ctx := context.Background()

	connected := &viewerSession{v: v, pc: connectedPair(t, v.api), log: v.log, out: &candidateOutbox{}}
	v.sess = connected
	v.afterRejoin(ctx, sig)
	if v.sess != connected || v.signaling() != sig || !v.freshSig {
		t.Fatal("a connected peer connection was replaced after a rejoin")
	}

	idle, err := v.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	stale := &viewerSession{v: v, pc: idle, log: v.log, out: &candidateOutbox{}}
	v.sess = stale
	v.afterRejoin(ctx, sig)
	if v.sess == nil || v.sess == stale {
		t.Fatal("a peer connection that was not connected was kept after a rejoin")
	}
	if v.pending != actNewSession {
		t.Fatalf("pending %v, want the answer timeout", v.pending)
	}
	v.closeLast()
	v.closers.Wait()
	if idle.ConnectionState() != webrtc.PeerConnectionStateClosed {
		t.Fatalf("the replaced peer connection is %s", idle.ConnectionState())
	}
}
