package client

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// remoteCandidates counts the remote candidates pion holds for pc, once
// the count has stopped growing (pion adds them in goroutines).
func remoteCandidates(pc *webrtc.PeerConnection) int {
	count := func() int {
		n := 0
		for _, r := range pc.GetStats() {
			if c, ok := r.(webrtc.ICECandidateStats); ok && c.Type == webrtc.StatsTypeRemoteCandidate {
				n++
			}
		}
		return n
	}
	last, stable := -1, 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && stable < 5; time.Sleep(50 * time.Millisecond) {
		n := count()
		if n == last {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	return last
}

// candidateEvent is an ICE_CANDIDATE as a signaling client delivers it.
func candidateEvent(t *testing.T, sender string, port int) Event {
	t.Helper()
	return labelledEvent(t, sender, candidate(port))
}

// scriptedMaster is a Master whose signaling client is connected to a
// scripted peer that reads and drops what it is sent, with ICE servers
// already fetched: the master's handling of offers and candidates can be
// driven directly, without a server.
func scriptedMaster(t *testing.T) *Master {
	t.Helper()
	h := newScriptedPeer(t, func(h *scriptedPeer, _ int, w http.ResponseWriter, r *http.Request) {
		if ws := h.accept(w, r); ws != nil {
			drain(ws)
		}
	})
	sig := dialScripted(t, h.config(kvsapi.RoleMaster, ""))
	m, err := NewMaster(MasterConfig{Client: offlineClient(t), Channel: "c", ICE: loopbackOnly})
	if err != nil {
		t.Fatal(err)
	}
	m.sig = sig
	m.ice = &iceServerCache{kvs: m.cfg.Client, fetched: true, expires: time.Now().Add(time.Hour)}
	t.Cleanup(func() {
		m.closeAll()
		m.closing.Wait()
	})
	return m
}

// TestMasterBoundsRemoteCandidatesPerICERound: a viewer that sends its
// offer again (same PeerConnection, same ICE credentials: the same round
// of ICE, as a redelivered or repeated offer is) must not get another
// maxRemoteCandidates candidates into the master's PeerConnection each
// time. maxRemoteCandidates bounds "the remote ICE candidates a peer
// takes in one round of ICE"; the master resets its count on every offer,
// so pion's candidates grow without end.
func TestMasterBoundsRemoteCandidatesPerICERound(t *testing.T) {
	m := scriptedMaster(t)
	sig := m.sig
	_, offer := offerer(t, m.api)
	ctx := context.Background()
	const rounds = 3
	var first *masterPeer
	for round := range rounds {
		m.handle(ctx, sig, func() Event {
			payload, err := EncodePayload(SessionDescription{Type: "offer", SDP: offer.SDP})
			if err != nil {
				t.Fatal(err)
			}
			return Event{Event: kvsapi.Event{SenderClientID: "v1", MessageType: kvsapi.ActionSDPOffer, MessagePayload: payload}}
		}())
		for i := range maxRemoteCandidates {
			m.handle(ctx, sig, candidateEvent(t, "v1", 20000+round*1000+i))
		}
		m.mu.Lock()
		p := m.viewers["v1"]
		m.mu.Unlock()
		if p == nil {
			t.Fatalf("round %d: the master has no peer connection for v1", round)
		}
		if first == nil {
			first = p
		} else if p != first {
			t.Fatalf("round %d: the repeated offer got a new peer connection", round)
		}
	}
	if n := remoteCandidates(first.pc); n > maxRemoteCandidates {
		t.Fatalf("the master's peer connection holds %d remote candidates of one round of ICE (%d offers with the same ICE credentials); want at most %d",
			n, rounds, maxRemoteCandidates)
	}
}

// TestViewerBoundsRemoteCandidatesAfterAnswer: once the master's answer
// is applied, a Viewer hands every candidate the master sends to pion,
// with no bound at all, so a misbehaving master grows the viewer's
// memory and pion's work (a goroutine and candidate pairs per candidate)
// without end — what maxRemoteCandidates is there to prevent.
func TestViewerBoundsRemoteCandidatesAfterAnswer(t *testing.T) {
	v := loopViewer(t)
	pc, offer := offerer(t, v.api)
	s := &viewerSession{v: v, pc: pc, log: v.log}
	v.sess = s
	answer := answerTo(t, v.api, offer)
	payload, err := EncodePayload(SessionDescription{Type: "answer", SDP: answer.SDP})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v.handle(ctx, nil, Event{Event: kvsapi.Event{MessageType: kvsapi.ActionSDPAnswer, MessagePayload: payload}})
	if !s.answered() {
		t.Fatal("the answer was not applied")
	}
	const sent = 3 * maxRemoteCandidates
	for i := range sent {
		v.handle(ctx, nil, candidateEvent(t, "", 20000+i))
	}
	if n := remoteCandidates(pc); n > maxRemoteCandidates {
		t.Fatalf("the viewer's peer connection took %d of the %d remote candidates the master sent for one round of ICE; want at most %d",
			n, sent, maxRemoteCandidates)
	}
}
