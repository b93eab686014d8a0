package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// TestReplacedViewerSessionSendsNoCandidates: pion hands a PeerConnection's
// candidates to the viewer from a goroutine of its own, and a replaced
// PeerConnection is closed in the background, so a candidate of the old
// one can reach the viewer after its replacement's offer went out. It
// must not be sent: the master would take it as one of the new
// PeerConnection's.
func TestReplacedViewerSessionSendsNoCandidates(t *testing.T) {
	var (
		mu     sync.Mutex
		frames []kvsapi.ClientMessage
	)
	h := newScriptedPeer(t, func(h *scriptedPeer, _ int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		if ws == nil {
			return
		}
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var msg kvsapi.ClientMessage
			if json.Unmarshal(b, &msg) == nil {
				mu.Lock()
				frames = append(frames, msg)
				mu.Unlock()
			}
		}
	})
	sig := dialScripted(t, h.config(kvsapi.RoleViewer, "v1"))
	v := loopViewer(t)
	v.sig = sig
	v.ice = &iceServerCache{kvs: v.cfg.Client, fetched: true, expires: time.Now().Add(time.Hour)}
	ctx := context.Background()

	v.newSession(ctx, sig)
	old := v.sess
	v.newSession(ctx, sig) // the old one is closed in the background
	t.Cleanup(func() { v.closeLast(); v.closers.Wait() })
	if v.sess == old {
		t.Fatal("the session was not replaced")
	}
	// One of the old PeerConnection's candidates, as pion delivers it late.
	late := webrtc.ICECandidate{Foundation: "1", Priority: 2130706431, Address: "127.0.0.1", Protocol: webrtc.ICEProtocolUDP,
		Port: 40404, Typ: webrtc.ICECandidateTypeHost, Component: 1}
	old.out.add(&late)

	time.Sleep(500 * time.Millisecond) // for the frames to arrive
	mu.Lock()
	defer mu.Unlock()
	offers := 0
	for _, f := range frames {
		if f.Action == kvsapi.ActionSDPOffer {
			offers++
			continue
		}
		var c ICECandidate
		if err := DecodePayload(f.MessagePayload, &c); err == nil && offers == 2 && strings.Contains(c.Candidate, " 40404 ") {
			t.Fatalf("the replaced PeerConnection's candidate %q was sent after the new offer", c.Candidate)
		}
	}
	if offers != 2 {
		t.Fatalf("%d offers sent, want 2", offers)
	}
}
