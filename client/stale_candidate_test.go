package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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
	v := scriptedViewer(t, h)
	sig := v.sig
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

// labelled is candidate(port) carrying usernameFragment ufrag, as a
// browser sends it (the line itself has no ufrag extension).
func labelled(port int, ufrag string) ICECandidate {
	c := candidate(port)
	c.UsernameFragment = &ufrag
	return c
}

// firstUfrag returns the first ice-ufrag of an SDP.
func firstUfrag(t *testing.T, sdp string) string {
	t.Helper()
	_, rest, ok := strings.Cut(sdp, "a=ice-ufrag:")
	if !ok {
		t.Fatalf("no ice-ufrag in %q", sdp)
	}
	ufrag, _, _ := strings.Cut(rest, "\r\n")
	return ufrag
}

// offerEvent is an SDP_OFFER from a viewer as a signaling client delivers it.
func offerEvent(t *testing.T, sender, sdp string) Event {
	t.Helper()
	payload, err := EncodePayload(SessionDescription{Type: "offer", SDP: sdp})
	if err != nil {
		t.Fatal(err)
	}
	return Event{Event: kvsapi.Event{SenderClientID: sender, MessageType: kvsapi.ActionSDPOffer, MessagePayload: payload}}
}

// labelledEvent is an ICE_CANDIDATE carrying usernameFragment.
func labelledEvent(t *testing.T, sender string, c ICECandidate) Event {
	t.Helper()
	payload, err := EncodePayload(c)
	if err != nil {
		t.Fatal(err)
	}
	return Event{Event: kvsapi.Event{SenderClientID: sender, MessageType: kvsapi.ActionICECandidate, MessagePayload: payload}}
}

// TestMasterDropsCandidatesOfAnotherICERound: a viewer's candidate that
// belongs to its replaced PeerConnection, or to the round before its ICE
// restart, can reach the master after the new offer was applied. Its
// usernameFragment says so; the master must drop it before it is counted
// against the new round's budget or handed to pion, and still take the
// candidates of the current round.
func TestMasterDropsCandidatesOfAnotherICERound(t *testing.T) {
	m := scriptedMaster(t)
	sig := m.sig
	ctx := context.Background()
	_, replacedOffer := offerer(t, m.api)
	viewerPC, offer := offerer(t, m.api)
	m.handle(ctx, sig, offerEvent(t, "v1", replacedOffer.SDP))
	m.handle(ctx, sig, offerEvent(t, "v1", offer.SDP)) // a new PeerConnection replaces it
	m.mu.Lock()
	p := m.viewers["v1"]
	m.mu.Unlock()
	if p == nil {
		t.Fatal("the master has no peer connection for v1")
	}

	// Late candidates of the replaced PeerConnection.
	stale := firstUfrag(t, replacedOffer.SDP)
	for i := range 5 {
		m.handle(ctx, sig, labelledEvent(t, "v1", labelled(20000+i, stale)))
	}
	if p.remote.added != 0 {
		t.Fatalf("the master counted %d candidates of the replaced peer connection (ufrag %s) in the new one's round", p.remote.added, stale)
	}
	m.handle(ctx, sig, labelledEvent(t, "v1", labelled(21000, firstUfrag(t, offer.SDP))))
	if p.remote.added != 1 {
		t.Fatalf("the master took %d candidates of the current round, want 1", p.remote.added)
	}

	// The viewer restarts ICE on the same PeerConnection: candidates of
	// the round before are stale now.
	if err := viewerPC.SetRemoteDescription(*p.pc.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	restart, err := viewerPC.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := viewerPC.SetLocalDescription(restart); err != nil {
		t.Fatal(err)
	}
	m.handle(ctx, sig, offerEvent(t, "v1", restart.SDP))
	m.mu.Lock()
	same := m.viewers["v1"] == p
	m.mu.Unlock()
	if !same {
		t.Fatal("the ICE restart got a new peer connection")
	}
	m.handle(ctx, sig, labelledEvent(t, "v1", labelled(22000, firstUfrag(t, offer.SDP))))
	if p.remote.added != 0 {
		t.Fatalf("after the ICE restart the master counted %d candidates of the round before", p.remote.added)
	}
	m.handle(ctx, sig, labelledEvent(t, "v1", labelled(22001, firstUfrag(t, restart.SDP))))
	if p.remote.added != 1 {
		t.Fatalf("after the ICE restart the master took %d candidates, want the current round's one", p.remote.added)
	}
	remoteCandidates(p.pc) // waits for pion to have added them
	for _, r := range p.pc.GetStats() {
		if c, ok := r.(webrtc.ICECandidateStats); ok && c.Type == webrtc.StatsTypeRemoteCandidate && c.Port == 22000 {
			t.Fatal("pion holds the candidate of the round before the ICE restart")
		}
	}
}

// TestViewerDropsCandidatesOfAnotherICERound: the master's candidates of
// a replaced master PeerConnection, or of the round before an ICE
// restart, are dropped before they are counted or handed to pion; those
// of the current round are taken, including the ones that come between a
// restart's offer and its answer.
func TestViewerDropsCandidatesOfAnotherICERound(t *testing.T) {
	v := loopViewer(t)
	pc, offer := offerer(t, v.api)
	master, err := v.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = master.Close() })
	s := &viewerSession{v: v, pc: pc, log: v.log}
	first := answerWith(t, master, offer)
	if err := s.applyAnswer(SessionDescription{Type: "answer", SDP: first.SDP}); err != nil {
		t.Fatal(err)
	}
	before := firstUfrag(t, first.SDP)

	s.addRemoteCandidate(labelled(20000, "ufragOfAReplacedMaster"))
	if s.remote.added != 0 {
		t.Fatalf("the viewer counted %d candidates of another master peer connection", s.remote.added)
	}

	// An ICE restart: until the master's answer, candidates wait; the
	// answer's ufrag then decides which are current.
	if _, err := s.makeOffer(true); err != nil {
		t.Fatal(err)
	}
	answer := answerWith(t, master, *pc.LocalDescription())
	after := firstUfrag(t, answer.SDP)
	if after == before {
		t.Fatal("the master's ufrag did not change with the restart")
	}
	s.addRemoteCandidate(labelled(21000, before)) // late, of the round before
	s.addRemoteCandidate(labelled(21001, after))  // the new round's, early
	if err := s.applyAnswer(SessionDescription{Type: "answer", SDP: answer.SDP}); err != nil {
		t.Fatal(err)
	}
	s.addRemoteCandidate(labelled(21002, before)) // late, after the answer
	if s.remote.added != 1 {
		t.Fatalf("the viewer took %d candidates in the restart's round, want only the one labelled %s", s.remote.added, after)
	}
}

// TestOutgoingCandidatesCarryTheirRoundsUfrag: the candidates a peer
// signals carry usernameFragment, the ufrag of the round of ICE pion
// gathered them in, also after an ICE restart.
func TestOutgoingCandidatesCarryTheirRoundsUfrag(t *testing.T) {
	v := loopViewer(t)
	pc, err := v.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	sent := make(chan ICECandidate, 64)
	out := &candidateOutbox{send: func(c ICECandidate) { sent <- c }, open: true}
	pc.OnICECandidate(out.add)
	if _, err := pc.CreateDataChannel("x", nil); err != nil {
		t.Fatal(err)
	}
	for round, restart := range []bool{false, true} {
		offer, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
		if err != nil {
			t.Fatal(err)
		}
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(offer); err != nil {
			t.Fatal(err)
		}
		select {
		case <-gathered:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: gathering did not complete", round)
		}
		if !restart { // an answer, so that the restart's offer may follow
			if err := pc.SetRemoteDescription(answerTo(t, v.api, offer)); err != nil {
				t.Fatal(err)
			}
		}
		want := firstUfrag(t, offer.SDP)
		if len(sent) == 0 {
			t.Fatalf("round %d: no candidate gathered", round)
		}
		for len(sent) > 0 {
			c := <-sent
			if c.UsernameFragment == nil || *c.UsernameFragment != want {
				got := "none"
				if c.UsernameFragment != nil {
					got = *c.UsernameFragment
				}
				t.Fatalf("round %d: candidate %q has usernameFragment %s, want %s", round, c.Candidate, got, want)
			}
		}
	}
}

// slowSend stands for the write of a candidate to the signaling
// connection, after every check that it may go: it says when it starts,
// takes a while, and records when it is done.
type slowSend struct {
	started chan struct{}
	done    atomic.Bool
	calls   atomic.Int32
}

func newSlowSend() *slowSend { return &slowSend{started: make(chan struct{})} }

func (s *slowSend) send(ICECandidate) {
	if s.calls.Add(1) == 1 {
		close(s.started)
	}
	time.Sleep(300 * time.Millisecond)
	s.done.Store(true)
}

// hostCandidate is a local candidate as pion hands it over.
func hostCandidate(port uint16) *webrtc.ICECandidate {
	return &webrtc.ICECandidate{Foundation: "1", Priority: 2130706431, Address: "127.0.0.1", Protocol: webrtc.ICEProtocolUDP,
		Port: port, Typ: webrtc.ICECandidateTypeHost, Component: 1}
}

// TestMasterDropWaitsForACandidateBeingSent: the master drops a viewer's
// PeerConnection when a new one of the same viewer id offers, then
// answers the new one. A candidate of the dropped PeerConnection that
// passed its check just before the drop must be on its way before drop
// returns, or it can reach the viewer after the new answer, under the
// same viewer id; and none may be sent after.
func TestMasterDropWaitsForACandidateBeingSent(t *testing.T) {
	m, err := NewMaster(MasterConfig{Client: offlineClient(t), Channel: "c", ICE: loopbackOnly})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := m.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	wire := newSlowSend()
	p := &masterPeer{m: m, id: "v1", pc: pc, log: m.log, timer: time.NewTimer(time.Hour),
		out: &candidateOutbox{send: wire.send, open: true}}
	m.viewers[p.id] = p
	m.live.Add(1)
	t.Cleanup(m.closing.Wait)

	go p.out.add(hostCandidate(40404))
	<-wire.started
	m.drop(p, "replaced by a new offer")
	if !wire.done.Load() {
		t.Fatal("drop returned while a candidate of the dropped peer connection was still being sent: the answer to the viewer's new peer connection could overtake it")
	}
	p.out.add(hostCandidate(40405))
	if n := wire.calls.Load(); n != 1 {
		t.Fatalf("%d candidates sent, want only the one sent before the drop", n)
	}
}

// TestReplacedViewerSessionWaitsForACandidateBeingSent: likewise, a
// viewer's new offer must not overtake a candidate of the PeerConnection
// it replaces that was already being sent.
func TestReplacedViewerSessionWaitsForACandidateBeingSent(t *testing.T) {
	h := newScriptedPeer(t, func(h *scriptedPeer, _ int, w http.ResponseWriter, r *http.Request) {
		if ws := h.accept(w, r); ws != nil {
			drain(ws)
		}
	})
	v := scriptedViewer(t, h)
	sig := v.sig
	ctx := context.Background()
	v.newSession(ctx, sig)
	t.Cleanup(func() { v.closeLast(); v.closers.Wait() })
	old := v.sess
	wire := newSlowSend()
	old.out.mu.Lock() // pion may be handing over the old one's candidates
	old.out.send = wire.send
	old.out.mu.Unlock()

	go old.out.add(hostCandidate(40404))
	<-wire.started
	v.newSession(ctx, sig)
	if !wire.done.Load() {
		t.Fatal("the new offer went out while a candidate of the replaced peer connection was still being sent")
	}
}

// TestStaleUfrag: which ufrag a candidate claims, from its
// usernameFragment or its line's ufrag extension, and when that makes it
// stale; lines that are short, odd or malformed claim nothing.
func TestStaleUfrag(t *testing.T) {
	current := []string{"now"}
	line := func(s string) ICECandidate { return ICECandidate{Candidate: s} }
	cases := []struct {
		name string
		c    ICECandidate
		want string
	}{
		{"no claim", line("candidate:1 1 udp 1 127.0.0.1 9 typ host"), ""},
		{"current member", labelled(9, "now"), ""},
		{"stale member", labelled(9, "old"), "old"},
		{"stale line", line("candidate:1 1 udp 1 127.0.0.1 9 typ host ufrag old"), "old"},
		{"current line", line("candidate:1 1 udp 1 127.0.0.1 9 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag now"), ""},
		{"ufrag as a value, not a name", line("candidate:1 1 udp 1 127.0.0.1 9 typ host network-id ufrag"), ""},
		{"no typ", line("candidate:1 1 udp 1 ufrag old"), ""},
		{"empty", line(""), ""},
	}
	for _, tc := range cases {
		if got := staleUfrag(tc.c, current); got != tc.want {
			t.Errorf("%s: staleUfrag(%q) = %q, want %q", tc.name, tc.c.Candidate, got, tc.want)
		}
	}
	if got := staleUfrag(labelled(9, "old"), nil); got != "" {
		t.Errorf("without a remote ufrag to compare with, %q was called stale", got)
	}
}

// scriptedViewer is a Viewer whose signaling client is connected, as
// viewer v1, to the scripted peer h, with ICE servers already fetched: its
// sessions can be driven directly, without a server.
func scriptedViewer(t *testing.T, h *scriptedPeer) *Viewer {
	t.Helper()
	v := loopViewer(t)
	v.sig = dialScripted(t, h.config(kvsapi.RoleViewer, "v1"))
	v.ice = &iceServerCache{kvs: v.cfg.Client, fetched: true, expires: time.Now().Add(time.Hour)}
	return v
}
