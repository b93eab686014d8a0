package client

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// viewerSession is one PeerConnection of a Viewer with the master.
type viewerSession struct {
	v   *Viewer
	pc  *webrtc.PeerConnection
	dc  *webrtc.DataChannel // nil without ViewerConfig.DataChannel
	out *candidateOutbox
	log *slog.Logger

	readersMu sync.Mutex     // orders readers.Add before close's Wait
	closed    bool           // close has begun: no more readers
	readers   sync.WaitGroup // the goroutines reading its tracks

	// configMu serialises pion's SetConfiguration (an ICE restart with new
	// servers) with the reads Stats makes: pion updates its ICE gatherer's
	// servers without the lock its statistics take.
	configMu sync.Mutex

	iceStart   atomic.Int64  // unix nanoseconds when ICE began (again)
	restarting atomic.Bool   // an ICE restart is under way
	iceChanges atomic.Uint64 // ICE state changes pion reported, in its order

	// Owned by the viewer's loop goroutine.
	remoteFingerprint string
	remoteUfrags      []string        // the ice-ufrag values of the applied answer
	restartFrom       uint64          // iceChanges when the current ICE restart began
	early             []ICECandidate  // remote candidates before the answer
	earlyDropped      int             // candidates refused for want of room in early
	remote            candidateBudget // remote candidates of this round of ICE
	pathLost          bool            // an ICE restart is scheduled for a lost path
	ended             bool            // a new session is scheduled for a failed one
	lastState         webrtc.PeerConnectionState
}

// sessionEvent tells the loop that one of a PeerConnection's states
// changed. pion calls the handlers that post these events on goroutines
// of their own (a new one for every PeerConnection state change), so they
// can arrive out of order: the states they carry serve the logs only, and
// the loop acts on the PeerConnection's current states.
type sessionEvent struct {
	s     *viewerSession
	ice   webrtc.ICEConnectionState // zero unless an ICE change
	state webrtc.PeerConnectionState
}

// newSession replaces the current PeerConnection (if any) with a new one
// and sends its offer.
func (v *Viewer) newSession(ctx context.Context, sig *SignalingClient) {
	v.schedule(0, actNone)
	v.mu.Lock()
	old := v.sess
	v.sess = nil
	v.mu.Unlock()
	if old != nil {
		// Before the new offer goes out: a candidate of the old
		// PeerConnection being sent now must not follow it.
		old.out.close()
		v.closers.Go(old.close)
	}
	servers, err := v.ice.get(ctx)
	if err != nil {
		v.log.Warn("fetching ICE servers", "error", err)
		v.schedule(2*time.Second, actNewSession)
		return
	}
	s, err := v.openSession(servers)
	if err != nil {
		v.log.Warn("creating a peer connection", "error", err)
		v.schedule(2*time.Second, actNewSession)
		return
	}
	v.mu.Lock()
	v.sess = s
	v.mu.Unlock()
	v.count.sessions.Add(1)
	if err := s.offer(ctx, sig, false); err != nil {
		v.log.Warn("sending the offer", "error", err)
	}
	v.schedule(answerTimeout, actNewSession)
}

// openSession makes a PeerConnection that receives audio and video.
func (v *Viewer) openSession(servers []webrtc.ICEServer) (*viewerSession, error) {
	pc, err := v.api.NewPeerConnection(v.cfg.ICE.configuration(servers))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	s := &viewerSession{v: v, pc: pc, log: v.log}
	s.out = &candidateOutbox{send: s.sendCandidate}
	recvOnly := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, recvOnly); err != nil {
			closePeerConnection(pc, v.log)
			return nil, fmt.Errorf("client: adding a %s transceiver: %w", kind, err)
		}
	}
	if v.cfg.DataChannel {
		if s.dc, err = pc.CreateDataChannel(DataChannelLabel, nil); err != nil {
			closePeerConnection(pc, v.log)
			return nil, fmt.Errorf("client: creating the data channel: %w", err)
		}
		s.dc.OnOpen(func() {
			if on := v.cfg.OnDataChannelOpen; on != nil {
				v.callbacks.run(on)
			}
		})
		s.dc.OnMessage(func(msg webrtc.DataChannelMessage) {
			if on := v.cfg.OnMessage; on != nil {
				v.callbacks.run(func() { on(msg.Data) })
			}
		})
	}
	pc.OnICECandidate(s.out.add)
	pc.OnTrack(s.onTrack)
	pc.OnICEConnectionStateChange(s.onICEChange)
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) { v.post(sessionEvent{s: s, state: st}) })
	return s, nil
}

// onICEChange counts an ICE state change and posts it. pion calls it in
// the order of the changes, after storing the new state.
func (s *viewerSession) onICEChange(st webrtc.ICEConnectionState) {
	s.iceChanges.Add(1)
	s.v.post(sessionEvent{s: s, ice: st})
}

// post hands a PeerConnection event to the loop. An event that finds the
// queue full is dropped: the loop reads the current states on each event,
// and the events already queued are handled after this change.
func (v *Viewer) post(e sessionEvent) {
	select {
	case v.events <- e:
	default:
		v.log.Debug("peer connection event dropped", "ice", e.ice, "state", e.state)
	}
}

// offer creates and sends an offer, an ICE restart when restart is set;
// candidates wait until it is sent.
func (s *viewerSession) offer(ctx context.Context, sig *SignalingClient, restart bool) error {
	s.out.hold()
	offer, err := s.makeOffer(restart)
	if err != nil {
		return err
	}
	err = sig.SendOffer(ctx, "", SessionDescription{Type: "offer", SDP: offer.SDP})
	s.out.release()
	return err
}

// makeOffer creates an offer and applies it.
func (s *viewerSession) makeOffer(restart bool) (webrtc.SessionDescription, error) {
	// Before CreateOffer, which restarts the ICE agent: the restart's
	// round of checks begins after this count.
	s.restartFrom = s.iceChanges.Load()
	s.restarting.Store(restart)
	s.remote.reset(s.log) // a new round of ICE
	offer, err := s.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	if err != nil {
		return offer, fmt.Errorf("creating the offer: %w", err)
	}
	s.iceStart.Store(time.Now().UnixNano())
	if err := s.pc.SetLocalDescription(offer); err != nil {
		return offer, fmt.Errorf("applying the offer: %w", err)
	}
	return offer, nil
}

// sendCandidate sends a local candidate to the master, unless the
// session was replaced: pion may deliver a candidate after that, and the
// master would take it for one of the new PeerConnection's.
func (s *viewerSession) sendCandidate(c ICECandidate) {
	s.v.mu.Lock()
	sig, current := s.v.sig, s.v.sess == s
	s.v.mu.Unlock()
	if sig == nil || !current {
		return
	}
	if err := sig.SendICECandidate(context.Background(), "", c); err != nil {
		s.log.Debug("sending a candidate", "error", err)
	}
}

// answered reports whether the master's answer was applied.
func (s *viewerSession) answered() bool { return s.pc.RemoteDescription() != nil }

// applyAnswer applies the master's answer and the candidates that came
// before it.
func (s *viewerSession) applyAnswer(answer SessionDescription) error {
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP}); err != nil {
		return err
	}
	s.remoteFingerprint = fingerprint(answer.SDP)
	s.remoteUfrags = iceUfrags(answer.SDP)
	for _, c := range s.early {
		s.addRemoteCandidate(c)
	}
	if s.earlyDropped > 0 {
		s.log.Debug("remote candidates dropped before the answer", "count", s.earlyDropped)
	}
	s.early, s.earlyDropped = nil, 0
	return nil
}

// addRemoteCandidate adds a master's candidate, up to
// maxRemoteCandidates for each round of ICE, or keeps it until the
// answer. While an ICE restart's offer waits for its answer, the applied
// answer is the previous round's, so candidates wait too: they are then
// checked against the new answer's ufrag. A candidate of another round
// (the master's before the restart, or of a master PeerConnection that
// was replaced) is dropped before it is counted: pion would count it in
// the budget of this round, or add it to this round's checks.
func (s *viewerSession) addRemoteCandidate(c ICECandidate) {
	if !s.answered() || s.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		s.keepEarly(c)
		return
	}
	if ufrag := staleUfrag(c, s.remoteUfrags); ufrag != "" {
		s.log.Debug("dropping a remote candidate of another round of ICE", "ufrag", ufrag, "current", s.remoteUfrags)
		return
	}
	if !s.remote.take(s.log) {
		return
	}
	if err := s.pc.AddICECandidate(toICECandidateInit(c)); err != nil {
		s.log.Debug("adding a remote candidate", "error", err)
	}
}

// keepEarly keeps a candidate that came before the answer, up to
// maxRemoteCandidates; later ones are dropped. A master sends its
// candidates after its answer, so early ones are mostly leftovers meant
// for an earlier PeerConnection, and their number must not be up to the
// sender.
func (s *viewerSession) keepEarly(c ICECandidate) {
	if len(s.early) < maxRemoteCandidates {
		s.early = append(s.early, c)
		return
	}
	s.earlyDropped++
	if s.earlyDropped == 1 {
		s.log.Debug("dropping remote candidates that came before the answer: buffer full", "limit", maxRemoteCandidates)
	}
}

// close closes the PeerConnection and waits for its track readers.
func (s *viewerSession) close() {
	closePeerConnection(s.pc, s.log)
	s.readersMu.Lock()
	s.closed = true
	s.readersMu.Unlock()
	s.readers.Wait()
}

// onSessionEvent follows the current PeerConnection's states: it records
// when ICE connected, restarts ICE when the path is lost, and replaces
// the PeerConnection when it fails. It decides on the states the
// PeerConnection is in now, never on those the event carries, so that an
// event that arrives late cannot undo a newer state, and it looks at both
// states on every event, so that an event dropped from a full queue is
// made up for by those queued after it. The actions are idempotent, as
// several events may find the same state.
func (v *Viewer) onSessionEvent(ctx context.Context, sig *SignalingClient, e sessionEvent) {
	v.mu.Lock()
	current := v.sess
	v.mu.Unlock()
	if e.s != current {
		return
	}
	changes := e.s.iceChanges.Load() // before the state: see onICEState
	v.onICEState(e.s, e.s.pc.ICEConnectionState(), changes)
	v.onPeerState(e.s, e.s.pc.ConnectionState())
}

// onICEState acts on a session's current ICE connection state; changes
// is the count of ICE state changes, read before the state. While an ICE
// restart waits for its round of checks to begin (no change counted
// since its offer), a connected state is the round before, which must
// neither count the restart as done nor call off its timeout. pion
// stores a state before counting it, so a state read after a count that
// moved on is the restart's own.
func (v *Viewer) onICEState(s *viewerSession, state webrtc.ICEConnectionState, changes uint64) {
	switch state {
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
		if s.restarting.Load() && changes == s.restartFrom {
			return
		}
		s.pathLost = false
		// Once per round of ICE, from the offer that began it.
		if start := s.iceStart.Swap(0); start != 0 {
			v.count.holePunch.Store(time.Now().UnixNano() - start)
		}
		if s.restarting.Swap(false) {
			v.count.restarts.Add(1)
			v.log.Info("ICE restart succeeded")
		}
		if s.pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
			v.scheduleCredentialRestart(s)
		}
	case webrtc.ICEConnectionStateDisconnected:
		if !s.pathLost { // a repeat must not push the restart back
			s.pathLost = true
			v.schedule(disconnectGrace, actRestartICE)
		}
	}
}

// onPeerState acts on a session's current PeerConnection state.
func (v *Viewer) onPeerState(s *viewerSession, state webrtc.PeerConnectionState) {
	seen := state == s.lastState
	s.lastState = state
	switch state {
	case webrtc.PeerConnectionStateConnected:
		if !seen {
			local, remote := selectedPair(s.pc)
			v.log.Info("connected to the master", "local", local, "remote", remote)
		}
		if s.restarting.Load() {
			return // onICEState decides when the restart is done
		}
		// Even when seen: the connecting state of an ICE restart may
		// have passed unobserved, and the restart's timeout must go.
		v.scheduleCredentialRestart(s)
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		if !s.ended { // both are final for this viewer
			s.ended = true
			v.log.Info("peer connection ended; offering a new one", "state", state)
			v.schedule(retryDelay, actNewSession)
		}
	}
}

// restartICE restarts ICE on the current PeerConnection, with ICE servers
// whose TURN credentials are current. A PeerConnection still waiting for
// its answer is left alone.
func (v *Viewer) restartICE(ctx context.Context, sig *SignalingClient) {
	v.mu.Lock()
	s := v.sess
	v.mu.Unlock()
	if s == nil || !s.answered() || s.pc.SignalingState() != webrtc.SignalingStateStable {
		return
	}
	if sig.State() != StateConnected {
		v.schedule(time.Second, actRestartICE) // try again once signaling is back
		return
	}
	if err := v.ice.refresh(ctx, s.pc, 0, &s.configMu); err != nil {
		v.log.Warn("refreshing ICE servers", "error", err)
	}
	v.log.Info("restarting ICE")
	if err := s.offer(ctx, sig, true); err != nil {
		v.log.Warn("ICE restart", "error", err)
	}
	v.schedule(restartTimeout, actNewSession)
}

// scheduleCredentialRestart clears what was pending once the session is
// connected. When the path goes through a TURN relay it schedules an ICE
// restart for when the TURN credentials are due for renewal: the relay
// ends the allocation when they expire, and moving to a new one before
// then keeps the media flowing.
func (v *Viewer) scheduleCredentialRestart(s *viewerSession) {
	local, remote := selectedPair(s.pc)
	relay := webrtc.ICECandidateTypeRelay.String()
	if local != relay && remote != relay {
		v.schedule(0, actNone)
		return
	}
	v.schedule(max(v.ice.staleIn(), minCredentialRestart), actRestartICE)
}

// signaling returns the current signaling client, which the sessions send
// their candidates through.
func (v *Viewer) signaling() *SignalingClient {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.sig
}
