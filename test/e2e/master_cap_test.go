package e2e

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// TestMasterRefusesViewersBeyondMaxViewers runs a master capped at two
// viewers and three Viewers: the third is refused, and OnViewer says so,
// while the other two are served; a served viewer's ICE restart is still
// answered at the cap; and the refused viewer is served once another one
// leaves.
func TestMasterRefusesViewersBeyondMaxViewers(t *testing.T) {
	// The channel exists before the peers start, so that each of them
	// describes it once (joining is limited per channel).
	_, kvs, _ := signalingChannel(t, "capped")
	events := newViewerLog()
	startMaster(t, kvs, client.MasterConfig{Channel: "capped", ICE: loopbackICE(false), MaxViewers: 2, OnViewer: events.add})
	viewer := func(id string) (*client.Viewer, *running) {
		return startViewer(t, kvs, client.ViewerConfig{Channel: "capped", ClientID: id, ICE: loopbackICE(false)})
	}
	a, _ := viewer("viewer-a")
	events.await(t, "viewer-a connected", viewerIn("viewer-a", "connected"))
	_, runB := viewer("viewer-b")
	events.await(t, "viewer-b connected", viewerIn("viewer-b", "connected"))

	viewer("viewer-c")
	refused := events.await(t, "viewer-c refused", viewerIn("viewer-c", client.ViewerRefused))
	if !errors.Is(refused.Err, client.ErrTooManyViewers) || refused.Peers != 2 {
		t.Fatalf("refusal %+v, want ErrTooManyViewers with 2 peers", refused)
	}

	// The master is full, yet it answers the ICE restart of a viewer it
	// serves.
	if err := a.RestartICE(); err != nil {
		t.Fatal(err)
	}
	for limit := time.Now().Add(60 * time.Second); a.Stats().ICERestarts == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(limit) {
			t.Fatalf("viewer-a's ICE restart did not complete; its states: %v", events.states("viewer-a"))
		}
	}

	// When viewer-b leaves, the refused viewer gets its place at its next
	// offer.
	if err := runB.stop(); err != nil {
		t.Fatal(err)
	}
	events.await(t, "viewer-c connected", viewerIn("viewer-c", "connected"))
	for _, id := range []string{"viewer-a", "viewer-b"} {
		if events.has(viewerIn(id, client.ViewerRefused)) {
			t.Errorf("%s was refused; its states: %v", id, events.states(id))
		}
	}
	if st := a.Stats(); st.PeerConnections != 1 {
		t.Errorf("viewer-a made %d peer connections, want 1 (the ICE restart kept its first)", st.PeerConnections)
	}
}

// TestMasterAtMaxViewersAnswersItsViewer: a master capped at one viewer
// answers every offer of the viewer it serves (from a new PeerConnection
// that replaces the first, then an ICE restart of that one) and refuses
// another viewer's offer in between. The viewers are a SignalingClient
// and bare pion PeerConnections each, so that the test chooses when they
// offer.
func TestMasterAtMaxViewersAnswersItsViewer(t *testing.T) {
	srv, kvs, arn := signalingChannel(t, "full")
	events := newViewerLog()
	startMaster(t, kvs, client.MasterConfig{Channel: "full", ICE: loopbackICE(false), MaxViewers: 1, OnViewer: events.add})
	served := dialBareViewer(t, srv, kvs, arn, "served")
	other := dialBareViewer(t, srv, kvs, arn, "other")

	first := served.newPeerConnection(t)
	served.offer(t, first, false)
	firstAnswer := served.answer(t, first)

	other.offer(t, other.newPeerConnection(t), false)
	events.await(t, "the other viewer refused", viewerIn("other", client.ViewerRefused))

	second := served.newPeerConnection(t) // takes the first one's place
	served.offer(t, second, false)
	secondAnswer := served.answer(t, second)
	if dtlsFingerprints(secondAnswer.SDP) == dtlsFingerprints(firstAnswer.SDP) {
		t.Fatal("the master answered the new peer connection from its old one")
	}
	served.offer(t, second, true) // an ICE restart
	restartAnswer := served.answer(t, second)
	if dtlsFingerprints(restartAnswer.SDP) != dtlsFingerprints(secondAnswer.SDP) {
		t.Fatal("the master answered the ICE restart from a new peer connection")
	}
	if events.has(viewerIn("served", client.ViewerRefused)) {
		t.Fatalf("the served viewer was refused; its states: %v", events.states("served"))
	}
}

// bareViewer is a viewer's signaling connection and the pion API its
// PeerConnections are made with.
type bareViewer struct {
	*peer
	api *webrtc.API
}

// dialBareViewer connects a viewer to a channel of srv until the test
// ends. Its PeerConnections gather loopback host candidates only.
func dialBareViewer(t *testing.T, srv *server, kvs *client.Client, arn, clientID string) *bareViewer {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return &bareViewer{
		peer: connect(t, clientID, srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, clientID)),
		api:  webrtc.NewAPI(webrtc.WithSettingEngine(se)),
	}
}

// newPeerConnection returns a PeerConnection with the viewers' data
// channel, closed when the test ends.
func (b *bareViewer) newPeerConnection(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	pc, err := b.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.CreateDataChannel(client.DataChannelLabel, nil); err != nil {
		t.Fatal(err)
	}
	return pc
}

// offer makes an offer of pc (an ICE restart when restart is set),
// applies it and sends it to the master.
func (b *bareViewer) offer(t *testing.T, pc *webrtc.PeerConnection, restart bool) {
	t.Helper()
	offer, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	if err := b.SendOffer(context.Background(), "", client.SessionDescription{Type: "offer", SDP: offer.SDP}); err != nil {
		t.Fatal(err)
	}
}

// answer waits for the master's next answer, skipping its candidates
// (these tests do not connect), and applies it to pc. The limit only
// keeps a broken run from hanging.
func (b *bareViewer) answer(t *testing.T, pc *webrtc.PeerConnection) client.SessionDescription {
	t.Helper()
	limit := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-b.Events():
			if !ok {
				t.Fatalf("%s: signaling ended: %v", b.name, b.Err())
			}
			if ev.MessageType != kvsapi.ActionSDPAnswer {
				continue
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
			t.Fatalf("%s: no answer from the master", b.name)
		}
	}
}

// dtlsFingerprints returns the a=fingerprint values of an SDP, sorted
// and lower-cased: they name the certificate of the PeerConnection that
// wrote it, which an ICE restart keeps and a new PeerConnection changes.
func dtlsFingerprints(sdp string) string {
	var found []string
	for _, line := range strings.Split(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=fingerprint:"); ok {
			found = append(found, strings.ToLower(v))
		}
	}
	slices.Sort(found)
	return strings.Join(slices.Compact(found), ",")
}
