package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/client/media"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Timings of a Viewer's recovery.
const (
	// answerTimeout: a viewer whose offer is not answered within this
	// time (the master is away, or the offer was lost) offers again on a
	// new PeerConnection.
	answerTimeout = 10 * time.Second
	// connectTimeout: an answered PeerConnection that does not connect
	// within this time is replaced.
	connectTimeout = 15 * time.Second
	// disconnectGrace: after ICE reports a lost path for this long, the
	// viewer restarts ICE.
	disconnectGrace = time.Second
	// restartTimeout: an ICE restart that does not reconnect within this
	// time gives way to a new PeerConnection.
	restartTimeout = 8 * time.Second
	// retryDelay spaces new PeerConnections after a failure.
	retryDelay = 500 * time.Millisecond
	// minCredentialRestart: the shortest wait before an ICE restart that
	// renews TURN credentials, however short their lifetime.
	minCredentialRestart = 10 * time.Second
)

// ViewerConfig configures a Viewer.
type ViewerConfig struct {
	// Client reaches the service and signs for the viewer. Required.
	Client *Client
	// Channel is the channel's name or ARN. Required.
	Channel string
	// CreateChannel creates the channel when it does not exist (Channel
	// must then be a name).
	CreateChannel bool
	// ClientID identifies the viewer in the channel; a random
	// "viewer-..." id when empty.
	ClientID string
	// ICE chooses ICE servers and candidates.
	ICE ICEConfig
	// DataChannel opens a data channel (labelled DataChannelLabel) to
	// the master with every PeerConnection.
	DataChannel bool
	// OnDataChannelOpen is called each time the data channel opens (once
	// per PeerConnection), from pion's goroutines.
	OnDataChannelOpen func()
	// OnMessage receives the master's data-channel messages, from pion's
	// goroutines.
	//
	// Neither callback is called after Run returns: Run waits for a call
	// under way (so a callback must not wait for Run) and makes none
	// later.
	OnMessage func(data []byte)
	// OnFrame receives every video frame and audio packet, put back
	// together from its RTP packets, with the codec's MIME type, from the
	// goroutine that reads the track. Calls can be concurrent: audio and
	// video have a reader each, and when a PeerConnection is replaced the
	// old one's readers may still be finishing while the new one's start;
	// guard shared state. Timestamps start at zero with each
	// PeerConnection; audio packets carry no Duration (zero). It must
	// return quickly. Run waits for the track readers, so it is not
	// called after Run returns.
	OnFrame func(mimeType string, f media.Frame)
	// Logger receives the viewer's logs; nothing is logged when nil.
	Logger *slog.Logger
}

// Viewer is a viewer peer: it joins a channel, offers a PeerConnection
// to the master that receives audio and video (and, when asked, opens a
// data channel), trickles ICE candidates, and keeps the media coming. It
// restarts ICE when the path is lost, offers a new PeerConnection when
// that fails or the master went away and came back, and rides out
// signaling GO_AWAY and dropped sockets. Create one with NewViewer and
// call Run; Stats reports the connection while it runs.
type Viewer struct {
	cfg   ViewerConfig
	log   *slog.Logger
	api   *webrtc.API
	setup peerSetup
	count counters

	running   atomic.Bool
	started   time.Time
	events    chan sessionEvent // from pion's callbacks to the loop
	restarts  chan struct{}     // RestartICE requests
	closers   sync.WaitGroup    // replaced PeerConnections being closed
	callbacks callbackGate      // OnDataChannelOpen and OnMessage, closed when Run ends

	// Owned by the loop goroutine.
	timer    *time.Timer
	pending  pendingAction
	freshSig bool // the signaling client's first StateConnected is still due

	mu   sync.Mutex
	sess *viewerSession
	last *ViewerStats // the last PeerConnection's figures, once Run returned
	sig  *SignalingClient
	ice  *iceServerCache
}

// pendingAction is what the viewer does when its timer fires.
type pendingAction int

const (
	actNone pendingAction = iota
	actNewSession
	actRestartICE
)

// NewViewer checks cfg and returns a Viewer. It performs no I/O.
func NewViewer(cfg ViewerConfig) (*Viewer, error) {
	if cfg.Client == nil || cfg.Channel == "" {
		return nil, errors.New("client: ViewerConfig needs a Client and a Channel")
	}
	if err := checkSTUNURL(cfg.ICE.STUNURL); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "viewer-" + rand.Text()[:10]
	}
	if err := kvsapi.ValidateClientID("ViewerConfig.ClientID", cfg.ClientID); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "viewer", "client_id", cfg.ClientID)
	api, err := cfg.ICE.newAPI(logger)
	if err != nil {
		return nil, err
	}
	v := &Viewer{cfg: cfg, log: logger, api: api, events: make(chan sessionEvent, 32), restarts: make(chan struct{}, 1)}
	v.setup = peerSetup{kvs: cfg.Client, channel: cfg.Channel, create: cfg.CreateChannel, role: kvsapi.RoleViewer, clientID: cfg.ClientID, log: logger}
	return v, nil
}

// ClientID returns the viewer's client id.
func (v *Viewer) ClientID() string { return v.cfg.ClientID }

// Run joins the channel and keeps a PeerConnection with the master until
// ctx ends (it then closes it, so that the master frees its side at
// once, and returns nil) or something fails for good: the first join
// (unknown channel, refused credentials, unreachable endpoint, untrusted
// certificate; a throttled join is tried again a few times) or a
// replacement by a viewer with the same client id (ErrReplaced). Run returns after every goroutine it started has ended;
// it may be called once.
func (v *Viewer) Run(ctx context.Context) error {
	if v.running.Swap(true) {
		return errors.New("client: Viewer.Run called twice")
	}
	v.started = time.Now()
	j, err := v.setup.joinFirst(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before the join completed, as documented
		}
		return fmt.Errorf("client: viewer: %w", err)
	}
	v.mu.Lock()
	v.ice = &iceServerCache{kvs: v.cfg.Client, https: j.https, arn: j.arn, clientID: v.cfg.ClientID, stun: v.cfg.ICE.stunURL(v.cfg.Client), relayOnly: v.cfg.ICE.RelayOnly, log: v.log}
	v.sig = j.sig
	v.mu.Unlock()
	if _, err := v.ice.get(ctx); errors.Is(err, ErrNoRelay) {
		j.sig.Close()
		return err
	}
	v.timer = time.NewTimer(time.Hour)
	defer v.timer.Stop()
	v.freshSig = true
	err = v.serve(ctx, j.sig)
	v.closeLast()
	v.closers.Wait()
	v.callbacks.close()
	return err
}

// closeLast closes the current PeerConnection, keeping its figures for
// Stats.
func (v *Viewer) closeLast() {
	v.mu.Lock()
	s := v.sess
	v.mu.Unlock()
	if s == nil {
		return
	}
	var snap ViewerStats
	fillSessionStats(&snap, s)
	s.close()
	snap.State = s.pc.ConnectionState().String()
	v.mu.Lock()
	v.sess, v.last = nil, &snap
	v.mu.Unlock()
}

// RestartICE asks the viewer to restart ICE on its PeerConnection (new
// ICE credentials and candidates, same DTLS session and media). It fails
// with ErrNotRunning when the viewer has no PeerConnection.
func (v *Viewer) RestartICE() error {
	v.mu.Lock()
	s := v.sess
	v.mu.Unlock()
	if s == nil {
		return fmt.Errorf("client: %w", ErrNotRunning)
	}
	select {
	case v.restarts <- struct{}{}:
	default: // one is already pending
	}
	return nil
}

// Send sends a message on the data channel. It fails with
// ErrNoDataChannel when the channel is not open.
func (v *Viewer) Send(data []byte) error {
	v.mu.Lock()
	s := v.sess
	v.mu.Unlock()
	if s == nil || s.dc == nil || s.dc.ReadyState() != webrtc.DataChannelStateOpen {
		return fmt.Errorf("client: %w", ErrNoDataChannel)
	}
	if err := s.dc.Send(data); err != nil {
		return fmt.Errorf("client: sending on the data channel: %w", err)
	}
	return nil
}

// serve is the viewer's loop: signaling events, PeerConnection events,
// ICE restart requests and its timer.
func (v *Viewer) serve(ctx context.Context, sig *SignalingClient) error {
	defer func() { sig.Close() }()
	v.newSession(ctx, sig)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-sig.Events():
			if ok {
				v.handle(ctx, sig, ev)
				continue
			}
			next, err := v.rejoin(ctx, sig)
			if err != nil || next == nil {
				return err
			}
			sig = next
			v.afterRejoin(ctx, sig)
		case e := <-v.events:
			v.onSessionEvent(ctx, sig, e)
		case <-v.restarts:
			v.restartICE(ctx, sig)
		case <-v.timer.C:
			v.onTimer(ctx, sig)
		}
	}
}

// afterRejoin moves the viewer to the signaling client of a new join. As
// after a reconnection of the same client, a PeerConnection whose media
// is flowing is kept (its candidates now go through sig); any other is
// replaced by a new offer, since messages may have been lost meanwhile.
func (v *Viewer) afterRejoin(ctx context.Context, sig *SignalingClient) {
	v.mu.Lock()
	v.sig = sig
	s := v.sess
	v.mu.Unlock()
	v.freshSig = true
	if s != nil && s.pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		v.log.Info("joined the channel again; keeping the connected peer connection")
		return
	}
	v.newSession(ctx, sig)
}

// rejoin joins the channel again after the signaling client gave up. It
// returns nil, nil when ctx ended.
func (v *Viewer) rejoin(ctx context.Context, old *SignalingClient) (*SignalingClient, error) {
	cause := old.Err()
	if cause == nil {
		cause = ErrDisconnected
	}
	j, err := v.setup.rejoin(ctx, cause)
	switch {
	case ctx.Err() != nil:
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("client: viewer: %w", err)
	}
	old.Close()
	v.ice.moveTo(j.https, j.arn)
	return j.sig, nil
}

// handle reacts to one signaling event.
func (v *Viewer) handle(ctx context.Context, sig *SignalingClient, ev Event) {
	v.mu.Lock()
	s := v.sess
	v.mu.Unlock()
	switch ev.MessageType {
	case kvsapi.ActionSDPAnswer:
		answer, err := ev.SessionDescription()
		if err != nil || s == nil {
			return
		}
		v.onAnswer(ctx, sig, s, answer)
	case kvsapi.ActionICECandidate:
		if c, err := ev.ICECandidate(); err == nil && s != nil {
			s.addRemoteCandidate(c)
		}
	case kvsapi.ActionSDPOffer:
		v.log.Info("ignoring an offer from the master: this viewer makes the offers")
	case kvsapi.MessageReconnectICEServer:
		v.log.Info("the service asked for new ICE servers")
		v.ice.invalidate()
		v.restartICE(ctx, sig)
	case kvsapi.MessageStatusResponse:
		v.log.Warn("the service refused a message", "error", ev.StatusError())
	case EventStateChange:
		v.log.Info("signaling", "state", ev.State, "error", ev.Err)
		if ev.State != StateConnected {
			return
		}
		if v.freshSig {
			v.freshSig = false // the connection the current offer went through
			return
		}
		// Reconnected: messages may have been lost while the socket was
		// down, so offer again unless the media is flowing.
		if s == nil || s.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
			v.newSession(ctx, sig)
		}
	}
}

// onAnswer applies the master's answer. An answer from another DTLS
// identity than before means the master restarted: the PeerConnection
// cannot continue, so a new one is offered.
func (v *Viewer) onAnswer(ctx context.Context, sig *SignalingClient, s *viewerSession, answer SessionDescription) {
	if s.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
		v.log.Debug("ignoring an answer to no pending offer")
		return
	}
	if prev := s.remoteFingerprint; prev != "" && prev != fingerprint(answer.SDP) {
		v.log.Info("the master answered from a new session; offering a new peer connection")
		v.newSession(ctx, sig)
		return
	}
	if err := s.applyAnswer(answer); err != nil {
		v.log.Warn("applying the answer", "error", err)
		v.schedule(retryDelay, actNewSession)
		return
	}
	if s.restarting.Load() {
		v.schedule(restartTimeout, actNewSession)
	} else {
		v.schedule(connectTimeout, actNewSession)
	}
}

// onTimer runs the pending action.
func (v *Viewer) onTimer(ctx context.Context, sig *SignalingClient) {
	act := v.pending
	v.pending = actNone
	switch act {
	case actNewSession:
		v.newSession(ctx, sig)
	case actRestartICE:
		v.restartICE(ctx, sig)
	}
}

// schedule sets the timer to run act after d, replacing what was pending.
func (v *Viewer) schedule(d time.Duration, act pendingAction) {
	v.timer.Stop()
	v.pending = act
	if act != actNone {
		v.timer.Reset(d)
	}
}
