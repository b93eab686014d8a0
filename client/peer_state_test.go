package client

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// loopbackOnly keeps a test peer's host candidates on loopback.
var loopbackOnly = ICEConfig{Interfaces: []string{"lo"}}

// offlineClient is a Client for peers that a test drives without a
// service.
func offlineClient(t *testing.T) *Client {
	t.Helper()
	kvs, err := New(Config{Endpoint: "https://127.0.0.1:1", Region: "us-west-2", Credentials: testCreds})
	if err != nil {
		t.Fatal(err)
	}
	return kvs
}

// loopViewer returns a Viewer whose loop the test runs by hand.
func loopViewer(t *testing.T) *Viewer {
	t.Helper()
	v, err := NewViewer(ViewerConfig{Client: offlineClient(t), Channel: "c", ClientID: "v1", ICE: loopbackOnly})
	if err != nil {
		t.Fatal(err)
	}
	v.timer = time.NewTimer(time.Hour)
	t.Cleanup(func() { v.timer.Stop() })
	return v
}

// closedPeerConnection returns a PeerConnection of api that is closed.
func closedPeerConnection(t *testing.T, api *webrtc.API) *webrtc.PeerConnection {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Close(); err != nil {
		t.Fatal(err)
	}
	return pc
}

// TestViewerActsOnCurrentStates: pion may deliver a state change after a
// newer one, so the viewer decides on its PeerConnection's current state
// and a late event does not undo the newer state.
func TestViewerActsOnCurrentStates(t *testing.T) {
	v := loopViewer(t)
	ctx := context.Background()

	// A PeerConnection that ended: its replacement is due, and late
	// "connected" events must not call it off.
	ended := &viewerSession{v: v, pc: closedPeerConnection(t, v.api), log: v.log}
	v.sess = ended
	v.onSessionEvent(ctx, nil, sessionEvent{s: ended, state: webrtc.PeerConnectionStateClosed})
	if v.pending != actNewSession {
		t.Fatalf("pending %v after the close, want a new session", v.pending)
	}
	v.onSessionEvent(ctx, nil, sessionEvent{s: ended, state: webrtc.PeerConnectionStateConnected})
	v.onSessionEvent(ctx, nil, sessionEvent{s: ended, ice: webrtc.ICEConnectionStateConnected})
	if v.pending != actNewSession {
		t.Fatalf("pending %v after late connected events, want the new session still due", v.pending)
	}

	// A PeerConnection whose "closed" event was dropped from a full
	// queue: an event of another kind queued after it finds the state.
	dropped := &viewerSession{v: v, pc: closedPeerConnection(t, v.api), log: v.log}
	v.sess = dropped
	v.schedule(0, actNone)
	v.onSessionEvent(ctx, nil, sessionEvent{s: dropped, ice: webrtc.ICEConnectionStateClosed})
	if v.pending != actNewSession {
		t.Fatalf("pending %v after an ICE event on a closed peer connection, want a new session", v.pending)
	}

	// A connected PeerConnection: late "disconnected" and "failed"
	// events must neither restart ICE nor replace it.
	live := &viewerSession{v: v, pc: connectedPair(t, v.api), log: v.log}
	v.sess = live
	v.schedule(0, actNone)
	v.onSessionEvent(ctx, nil, sessionEvent{s: live, ice: webrtc.ICEConnectionStateDisconnected})
	v.onSessionEvent(ctx, nil, sessionEvent{s: live, state: webrtc.PeerConnectionStateFailed})
	if v.pending != actNone || live.pathLost || live.ended {
		t.Fatalf("pending %v (path lost %v, ended %v) after late events on a connected peer connection, want nothing",
			v.pending, live.pathLost, live.ended)
	}
}

// viewerEvents records a Master's ViewerEvents.
type viewerEvents struct {
	mu   sync.Mutex
	list []ViewerEvent
}

func newViewerEvents() *viewerEvents { return &viewerEvents{} }

func (r *viewerEvents) add(ev ViewerEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, ev)
}

// states returns the states reported for a viewer, in order.
func (r *viewerEvents) states(viewerID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.list {
		if ev.ViewerID == viewerID {
			out = append(out, ev.State)
		}
	}
	return out
}

// TestMasterActsOnCurrentStates: a master's viewer whose state change
// comes late keeps the newer state: a late "failed" does not drop a
// connected viewer, a late "connected" is not reported after "closed".
func TestMasterActsOnCurrentStates(t *testing.T) {
	events := newViewerEvents()
	m, err := NewMaster(MasterConfig{Client: offlineClient(t), Channel: "c", ICE: loopbackOnly, OnViewer: events.add})
	if err != nil {
		t.Fatal(err)
	}
	pc := connectedPair(t, m.api)
	p := &masterPeer{m: m, id: "v1", pc: pc, log: m.log, timer: time.NewTimer(time.Hour), out: &candidateOutbox{}}
	m.viewers[p.id] = p
	m.live.Add(1)

	p.onState(webrtc.PeerConnectionStateFailed) // late: pc is connected
	if m.viewerCount() != 1 || p.dropped.Load() {
		t.Fatal("a late failed state dropped a connected viewer")
	}
	if err := pc.Close(); err != nil {
		t.Fatal(err)
	}
	p.onState(webrtc.PeerConnectionStateClosed)
	p.onState(webrtc.PeerConnectionStateConnected) // late: pc is closed
	m.closing.Wait()
	if got, want := events.states(p.id), []string{"connected", "closed"}; !slices.Equal(got, want) {
		t.Fatalf("reported %v, want %v", got, want)
	}
	if m.viewerCount() != 0 || m.PeerCount() != 0 {
		t.Fatalf("%d viewers, %d peer connections after the close, want none", m.viewerCount(), m.PeerCount())
	}
}

// candidate is a host candidate on a loopback port.
func candidate(port int) ICECandidate {
	mid, index := "0", uint16(0)
	return ICECandidate{Candidate: fmt.Sprintf("candidate:1 1 udp 2130706431 127.0.0.1 %d typ host", port), SDPMid: &mid, SDPMLineIndex: &index}
}

// offerer returns a PeerConnection of api that has applied its own offer
// and that offer.
func offerer(t *testing.T, api *webrtc.API) (*webrtc.PeerConnection, webrtc.SessionDescription) {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.CreateDataChannel("x", nil); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	return pc, offer
}

// answerTo returns the answer of a new PeerConnection of api to offer.
func answerTo(t *testing.T, api *webrtc.API, offer webrtc.SessionDescription) webrtc.SessionDescription {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return answerWith(t, pc, offer)
}

// answerWith has pc answer offer and returns the answer it set.
func answerWith(t *testing.T, pc *webrtc.PeerConnection, offer webrtc.SessionDescription) webrtc.SessionDescription {
	t.Helper()
	if err := pc.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	return answer
}

// TestViewerKeepsBoundedEarlyCandidates: candidates that come before the
// answer are kept up to maxRemoteCandidates, the first ones; the answer
// takes them and empties the buffer.
func TestViewerKeepsBoundedEarlyCandidates(t *testing.T) {
	v := loopViewer(t)
	pc, offer := offerer(t, v.api)
	s := &viewerSession{v: v, pc: pc, log: v.log}
	const extra = 20
	for i := range maxRemoteCandidates + extra {
		s.addRemoteCandidate(candidate(20000 + i))
	}
	if len(s.early) != maxRemoteCandidates || s.earlyDropped != extra {
		t.Fatalf("kept %d and dropped %d early candidates, want %d and %d", len(s.early), s.earlyDropped, maxRemoteCandidates, extra)
	}
	first, last := s.early[0], s.early[len(s.early)-1]
	if first.Candidate != candidate(20000).Candidate || last.Candidate != candidate(20000+maxRemoteCandidates-1).Candidate {
		t.Fatalf("kept %q to %q, want the first %d", first.Candidate, last.Candidate, maxRemoteCandidates)
	}
	answer := answerTo(t, v.api, offer)
	if err := s.applyAnswer(SessionDescription{Type: "answer", SDP: answer.SDP}); err != nil {
		t.Fatal(err)
	}
	if s.early != nil {
		t.Fatalf("%d early candidates left after the answer", len(s.early))
	}
}

// TestMasterBoundsRemoteCandidatesPerOffer: a master hands pion at most
// maxRemoteCandidates of a viewer's candidates for one offer, and counts
// again from zero with the next offer.
func TestMasterBoundsRemoteCandidatesPerOffer(t *testing.T) {
	m, err := NewMaster(MasterConfig{Client: offlineClient(t), Channel: "c", ICE: loopbackOnly})
	if err != nil {
		t.Fatal(err)
	}
	_, offer := offerer(t, m.api)
	pc, err := m.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if err := pc.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	p := &masterPeer{m: m, id: "v1", pc: pc, log: m.log.With("viewer", "v1")}
	p.remote.reset(p.log)
	const extra = 20
	for i := range maxRemoteCandidates + extra {
		p.addRemoteCandidate(candidate(20000 + i))
	}
	if p.remote.added != maxRemoteCandidates || p.remote.dropped != extra {
		t.Fatalf("took %d and dropped %d candidates, want %d and %d", p.remote.added, p.remote.dropped, maxRemoteCandidates, extra)
	}
	p.remote.reset(p.log) // the next offer, an ICE restart
	p.addRemoteCandidate(candidate(30000))
	if p.remote.added != 1 || p.remote.dropped != 0 {
		t.Fatalf("after a new offer: took %d and dropped %d, want 1 and 0", p.remote.added, p.remote.dropped)
	}
}

// TestMaxViewersConfig: zero means the default; negative is refused.
func TestMaxViewersConfig(t *testing.T) {
	kvs := offlineClient(t)
	m, err := NewMaster(MasterConfig{Client: kvs, Channel: "c", Logger: slog.New(slog.DiscardHandler)})
	if err != nil || m.max != DefaultMaxViewers {
		t.Fatalf("max %d, error %v; want the default, %d", m.max, err, DefaultMaxViewers)
	}
	if _, err := NewMaster(MasterConfig{Client: kvs, Channel: "c", MaxViewers: -1}); err == nil {
		t.Fatal("NewMaster accepted MaxViewers -1")
	}
}

// TestViewerRestartWaitsForItsRound: just after an ICE restart's offer the
// ICE state can still read "connected" from the round before, and events
// of that round can still be queued. Neither may count the restart as
// done or call off its timeout; the restart's own round connecting does
// both.
func TestViewerRestartWaitsForItsRound(t *testing.T) {
	v := loopViewer(t)
	pc, master := connectedPeers(t, v.api)
	s := &viewerSession{v: v, pc: pc, log: v.log}
	v.sess = s
	pc.OnICEConnectionStateChange(s.onICEChange)

	if _, err := s.makeOffer(true); err != nil {
		t.Fatal(err)
	}
	v.schedule(restartTimeout, actNewSession) // as restartICE does
	// The states of the round before, read before pion reports the
	// restart's first change.
	v.onICEState(s, webrtc.ICEConnectionStateConnected, s.restartFrom)
	v.onPeerState(s, webrtc.PeerConnectionStateConnected)
	if v.pending != actNewSession || v.count.restarts.Load() != 0 {
		t.Fatalf("after a connected state of the round before: pending %v, %d restarts done; want the timeout kept and none done",
			v.pending, v.count.restarts.Load())
	}

	// The master answers and the restart's round connects.
	answerOffer(t, master, pc)
	deadline := time.After(10 * time.Second)
	for v.count.restarts.Load() == 0 {
		select {
		case e := <-v.events:
			v.onSessionEvent(context.Background(), nil, e)
		case <-deadline:
			t.Fatalf("the restart's round did not count as done; ICE %s, pending %v", pc.ICEConnectionState(), v.pending)
		}
	}
	if v.pending == actNewSession {
		t.Fatal("the restart's timeout is still due after its round connected")
	}
}

// answerOffer has answerer answer offerer's pending offer, with every
// candidate in the descriptions.
func answerOffer(t *testing.T, answerer, offerer *webrtc.PeerConnection) {
	t.Helper()
	<-webrtc.GatheringCompletePromise(offerer)
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(answerer)
	if err := answerer.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
}
