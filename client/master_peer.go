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

// connectDeadline is how long a master waits for a viewer's new
// PeerConnection to connect before freeing it.
const connectDeadline = 30 * time.Second

// masterPeer is a master's PeerConnection with one viewer.
type masterPeer struct {
	m           *Master
	id          string
	fingerprint string // the viewer's DTLS fingerprint
	pc          *webrtc.PeerConnection
	out         *candidateOutbox
	log         *slog.Logger
	timer       *time.Timer // frees a PeerConnection that never connects

	dropped atomic.Bool

	// Owned by Run's goroutine: the ICE credentials of the viewer's last
	// offer, its ice-ufrag values, and the remote candidates of that round
	// of ICE, those handed to pion and those dropped.
	iceCreds     string
	remoteUfrags []string
	remote       candidateBudget

	// stateMu orders onState's calls, which pion makes from goroutines
	// of their own; reported is the last state they acted on.
	stateMu  sync.Mutex
	reported webrtc.PeerConnectionState

	mu sync.Mutex
	dc *webrtc.DataChannel
}

// newPeer makes the PeerConnection for a viewer, with the shared tracks.
func (m *Master) newPeer(viewerID, fp string, servers []webrtc.ICEServer) (*masterPeer, error) {
	pc, err := m.api.NewPeerConnection(m.cfg.ICE.configuration(servers))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	m.live.Add(1)
	p := &masterPeer{m: m, id: viewerID, fingerprint: fp, pc: pc, log: m.log.With("viewer", viewerID)}
	p.out = &candidateOutbox{send: p.sendCandidate}
	for _, track := range []*webrtc.TrackLocalStaticSample{m.video, m.audio} {
		if track == nil {
			continue
		}
		sender, err := pc.AddTrack(track)
		if err != nil {
			p.dropped.Store(true)
			closePeerConnection(pc, p.log)
			m.live.Add(-1)
			return nil, fmt.Errorf("client: adding the %s track: %w", track.Kind(), err)
		}
		go drainRTCP(sender)
	}
	pc.OnICECandidate(p.out.add)
	pc.OnConnectionStateChange(p.onState)
	pc.OnDataChannel(p.onDataChannel)
	p.timer = time.AfterFunc(connectDeadline, func() {
		if pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
			m.drop(p, "did not connect in time")
		}
	})
	return p, nil
}

// drainRTCP reads a sender's RTCP (receiver reports, NACKs, PLIs) so that
// the interceptors see it; it returns once the PeerConnection is closed.
func drainRTCP(sender *webrtc.RTPSender) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := sender.Read(buf); err != nil {
			return
		}
	}
}

// answer applies the viewer's offer and sends the answer, then the
// candidates gathered meanwhile.
func (p *masterPeer) answer(ctx context.Context, sig *SignalingClient, offer SessionDescription) error {
	p.out.hold()
	if creds := iceCredentials(offer.SDP); creds != p.iceCreds {
		p.iceCreds = creds
		p.remote.reset(p.log)
	}
	err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.SDP})
	if err != nil {
		return fmt.Errorf("applying the offer: %w", err)
	}
	p.remoteUfrags = iceUfrags(offer.SDP)
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("creating the answer: %w", err)
	}
	if err := p.pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("applying the answer: %w", err)
	}
	if err := sig.SendAnswer(ctx, p.id, SessionDescription{Type: "answer", SDP: answer.SDP}); err != nil {
		return fmt.Errorf("sending the answer: %w", err)
	}
	p.out.release()
	return nil
}

// sendCandidate sends a local candidate to the viewer.
func (p *masterPeer) sendCandidate(c ICECandidate) {
	sig := p.m.signaling()
	if sig == nil || p.dropped.Load() {
		return
	}
	if err := sig.SendICECandidate(context.Background(), p.id, c); err != nil {
		p.log.Debug("sending a candidate", "error", err)
	}
}

// addRemoteCandidate adds a candidate the viewer sent, up to
// maxRemoteCandidates for each round of ICE. A candidate of another round
// (sent before the viewer restarted ICE, or by the PeerConnection its
// current one replaced) is dropped before it is counted: pion would
// count it in the budget of this round, or add it to this round's checks.
func (p *masterPeer) addRemoteCandidate(c ICECandidate) {
	if ufrag := staleUfrag(c, p.remoteUfrags); ufrag != "" {
		p.log.Debug("dropping a remote candidate of another round of ICE", "ufrag", ufrag, "current", p.remoteUfrags)
		return
	}
	if !p.remote.take(p.log) {
		return
	}
	if err := p.pc.AddICECandidate(toICECandidateInit(c)); err != nil {
		p.log.Debug("adding a remote candidate", "error", err)
	}
}

// onState follows the connection's state: it reports it and frees the
// PeerConnection when it ends. pion calls it from a new goroutine for
// each change, so calls can run out of order: it therefore acts on the
// state the PeerConnection is in now, not on the one it is given, and a
// late call finds that state already handled.
func (p *masterPeer) onState(webrtc.PeerConnectionState) {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	state := p.pc.ConnectionState()
	if state == p.reported {
		return
	}
	p.reported = state
	switch state {
	case webrtc.PeerConnectionStateConnected:
		p.timer.Stop()
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		p.m.drop(p, "connection "+state.String())
	}
	if state == webrtc.PeerConnectionStateNew || p.m.cfg.OnViewer == nil {
		return
	}
	ev := ViewerEvent{ViewerID: p.id, State: state.String(), Peers: p.m.viewerCount()}
	if state == webrtc.PeerConnectionStateConnected {
		ev.LocalCandidate, ev.RemoteCandidate = selectedPair(p.pc)
	}
	p.m.cfg.OnViewer(ev)
}

// onDataChannel keeps the data channel a viewer opened and passes its
// messages on.
func (p *masterPeer) onDataChannel(dc *webrtc.DataChannel) {
	p.mu.Lock()
	p.dc = dc
	p.mu.Unlock()
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		if on := p.m.cfg.OnMessage; on != nil {
			p.m.callbacks.run(func() { on(p.id, msg.Data) })
		}
	})
}

// send sends a message on the viewer's data channel.
func (p *masterPeer) send(data []byte) error {
	p.mu.Lock()
	dc := p.dc
	p.mu.Unlock()
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
		return fmt.Errorf("client: viewer %q: %w", p.id, ErrNoDataChannel)
	}
	if err := dc.Send(data); err != nil {
		return fmt.Errorf("client: sending to viewer %q: %w", p.id, err)
	}
	return nil
}

// close closes the PeerConnection and waits for it.
func (p *masterPeer) close() {
	p.timer.Stop()
	closePeerConnection(p.pc, p.log)
}
