package client

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// TestMasterRefusesViewersBeyondMaxViewers runs a master capped at two
// viewers and three Viewers on a real server: the third is refused, and
// OnViewer says so, while the other two are served; an ICE restart of a
// served viewer is still answered at the cap; and the third viewer is
// served once another leaves.
func TestMasterRefusesViewersBeyondMaxViewers(t *testing.T) {
	kvs := startSwitchboard(t)
	createChannel(t, kvs, "capped")
	events := newViewerEvents()
	master, err := NewMaster(MasterConfig{Client: kvs, Channel: "capped", ICE: loopbackOnly, MaxViewers: 2, OnViewer: events.add})
	if err != nil {
		t.Fatal(err)
	}
	runPeer(t, "master", master.Run)
	viewer := func(id string) (*Viewer, func()) {
		v, err := NewViewer(ViewerConfig{Client: kvs, Channel: "capped", ClientID: id, ICE: loopbackOnly})
		if err != nil {
			t.Fatal(err)
		}
		return v, runPeer(t, id, v.Run)
	}
	a, _ := viewer("viewer-a")
	events.await(t, "viewer-a connected", is("viewer-a", "connected"))
	_, stopB := viewer("viewer-b")
	events.await(t, "viewer-b connected", is("viewer-b", "connected"))

	viewer("viewer-c")
	refused := events.await(t, "viewer-c refused", is("viewer-c", ViewerRefused))
	if !errors.Is(refused.Err, ErrTooManyViewers) || refused.Peers != 2 {
		t.Fatalf("refusal %+v, want ErrTooManyViewers with 2 peers", refused)
	}

	// At the cap, a served viewer's ICE restart is answered.
	if err := a.RestartICE(); err != nil {
		t.Fatal(err)
	}
	for limit := time.Now().Add(60 * time.Second); a.Stats().ICERestarts == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(limit) {
			t.Fatalf("viewer-a's ICE restart did not complete; events: %v", events.states("viewer-a"))
		}
	}

	// A viewer leaves, and its slot goes to the one that was refused,
	// when it offers again.
	stopB()
	events.await(t, "viewer-c connected", is("viewer-c", "connected"))
	for _, id := range []string{"viewer-a", "viewer-b"} {
		if _, found, _ := events.find(is(id, ViewerRefused)); found {
			t.Errorf("%s was refused; its states: %v", id, events.states(id))
		}
	}
	if st := a.Stats(); st.PeerConnections != 1 {
		t.Errorf("viewer-a made %d peer connections, want 1 (the restart kept it)", st.PeerConnections)
	}
}

// TestMasterAtMaxViewersAnswersItsViewer: a master capped at one viewer,
// on a real server, answers every offer of the viewer it serves (a new
// PeerConnection replacing the first, then an ICE restart of it) and
// refuses another viewer's offer meanwhile. The viewers are bare pion
// PeerConnections, so that the test decides when each offers.
func TestMasterAtMaxViewersAnswersItsViewer(t *testing.T) {
	kvs := startSwitchboard(t)
	arn := createChannel(t, kvs, "full")
	events := newViewerEvents()
	master, err := NewMaster(MasterConfig{Client: kvs, Channel: "full", ICE: loopbackOnly, MaxViewers: 1, OnViewer: events.add})
	if err != nil {
		t.Fatal(err)
	}
	runPeer(t, "master", master.Run)
	served := dialRawViewer(t, kvs, arn, "served")
	other := dialRawViewer(t, kvs, arn, "other")

	first := served.newPeerConnection(t)
	served.offer(t, first, false)
	firstAnswer := served.answer(t, first)

	other.offer(t, other.newPeerConnection(t), false)
	events.await(t, "the other viewer refused", is("other", ViewerRefused))

	second := served.newPeerConnection(t) // replaces the first
	served.offer(t, second, false)
	secondAnswer := served.answer(t, second)
	if fingerprint(secondAnswer.SDP) == fingerprint(firstAnswer.SDP) {
		t.Fatal("the master answered the new peer connection from its old one")
	}
	served.offer(t, second, true) // an ICE restart
	restartAnswer := served.answer(t, second)
	if fingerprint(restartAnswer.SDP) != fingerprint(secondAnswer.SDP) {
		t.Fatal("the master answered the ICE restart from a new peer connection")
	}
	if _, found, _ := events.find(is("served", ViewerRefused)); found {
		t.Fatalf("the served viewer was refused; its states: %v", events.states("served"))
	}
}

// createChannel creates a channel and returns its ARN. The peers then
// join it without creating it, so that each describes it once: joining
// calls are limited per channel (real KVS limits them too), and a burst
// of joins must stay within the limit.
func createChannel(t *testing.T, kvs *Client, name string) string {
	t.Helper()
	out, err := kvs.CreateSignalingChannel(context.Background(), &kvsapi.CreateSignalingChannelInput{ChannelName: &name})
	if err != nil {
		t.Fatal(err)
	}
	return out.ChannelARN
}

// rawViewer is a viewer made of a SignalingClient and bare pion
// PeerConnections.
type rawViewer struct {
	sig *SignalingClient
	api *webrtc.API
}

// dialRawViewer connects a viewer to a channel until the test ends.
func dialRawViewer(t *testing.T, kvs *Client, arn, clientID string) *rawViewer {
	t.Helper()
	ctx := context.Background()
	eps, err := kvs.GetSignalingChannelEndpoint(ctx, arn, kvsapi.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := DialSignaling(ctx, SignalingConfig{Endpoint: eps.WSS, ChannelARN: arn, Role: kvsapi.RoleViewer,
		ClientID: clientID, Region: kvs.region, Credentials: kvs.creds, TLSConfig: kvs.tls})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sig.Close() })
	api, err := loopbackOnly.newAPI(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return &rawViewer{sig: sig, api: api}
}

// newPeerConnection returns a PeerConnection with a data channel, closed
// when the test ends.
func (r *rawViewer) newPeerConnection(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	pc, err := r.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.CreateDataChannel(DataChannelLabel, nil); err != nil {
		t.Fatal(err)
	}
	return pc
}

// offer sends an offer of pc, an ICE restart when restart is set.
func (r *rawViewer) offer(t *testing.T, pc *webrtc.PeerConnection, restart bool) {
	t.Helper()
	offer, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	if err := r.sig.SendOffer(context.Background(), "", SessionDescription{Type: "offer", SDP: offer.SDP}); err != nil {
		t.Fatal(err)
	}
}

// answer waits for the master's answer and applies it to pc. The limit
// only keeps a broken run from hanging.
func (r *rawViewer) answer(t *testing.T, pc *webrtc.PeerConnection) SessionDescription {
	t.Helper()
	limit := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-r.sig.Events():
			if !ok {
				t.Fatalf("signaling ended: %v", r.sig.Err())
			}
			if ev.MessageType != kvsapi.ActionSDPAnswer {
				continue // the master's candidates, which these tests do not need
			}
			answer, err := ev.SessionDescription()
			if err != nil {
				t.Fatal(err)
			}
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP}); err != nil {
				t.Fatal(err)
			}
			return answer
		case <-limit:
			t.Fatal("no answer from the master")
		}
	}
}
