package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/switchboard-rtc/switchboard/client/media"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// MasterConfig configures a Master.
type MasterConfig struct {
	// Client reaches the service and signs for the master. Required.
	Client *Client
	// Channel is the channel's name or ARN. Required.
	Channel string
	// CreateChannel creates the channel when it does not exist (Channel
	// must then be a name).
	CreateChannel bool
	// ICE chooses ICE servers and candidates.
	ICE ICEConfig
	// Video and Audio are what every viewer receives; either may be nil.
	// The master plays them from the start of Run, whether viewers are
	// connected or not, as a camera would.
	Video, Audio media.Source
	// OnMessage receives the messages viewers send on their data
	// channels, from pion's goroutines; nil ignores them. It is not called
	// after Run returns: Run waits for a call under way (so it must not
	// wait for Run) and makes none later.
	OnMessage func(viewerID string, data []byte)
	// OnViewer reports changes of the viewers' connections, from pion's
	// goroutines, and refused viewers, from the goroutine running Run
	// (which waits for it: it must return quickly); nil ignores them. The
	// calls for one PeerConnection come one at a time, in order, and none
	// is made after Run returns.
	OnViewer func(ViewerEvent)
	// MaxViewers caps the viewers served at once, each with its own
	// PeerConnection (memory, CPU, and a copy of the media to send). An
	// offer from a viewer the master does not serve yet, while it serves
	// this many, is refused: no PeerConnection is made and no answer is
	// sent (a Viewer offers again later), a warning is logged and OnViewer
	// gets a ViewerEvent with State ViewerRefused and Err wrapping
	// ErrTooManyViewers. Offers from a viewer it serves (an ICE restart, a
	// renegotiation, a new PeerConnection replacing its own) are never
	// refused for this, and a viewer's slot is free again as soon as its
	// PeerConnection ends. Offers sent with SendAlexaOfferToMaster take a
	// slot too. Zero means DefaultMaxViewers; NewMaster refuses negative
	// values.
	MaxViewers int
	// Logger receives the master's logs; nothing is logged when nil.
	Logger *slog.Logger
}

// DefaultMaxViewers is MasterConfig.MaxViewers when left at zero: the
// number of viewers a KVS signaling channel admits at once, which is also
// Switchboard's default signaling.max_viewers_per_channel. Raise both
// together.
const DefaultMaxViewers = 10

// ViewerRefused is the State of a ViewerEvent that reports an offer the
// master refused (see MasterConfig.MaxViewers).
const ViewerRefused = "refused"

// ViewerEvent reports a change of one viewer's connection to a Master.
type ViewerEvent struct {
	// ViewerID is the viewer's client id.
	ViewerID string
	// State is the PeerConnection state, in the W3C names: "connecting",
	// "connected", "disconnected", "failed" or "closed"; or ViewerRefused
	// when the master refused the viewer's offer. It is the state the
	// PeerConnection is in when the event is made: a state that lasted
	// less than that may go unreported, and a state is not reported twice
	// in a row.
	State string
	// Err says why, for ViewerRefused (it wraps ErrTooManyViewers); nil
	// otherwise.
	Err error
	// LocalCandidate and RemoteCandidate are the candidate types of the
	// selected pair ("host", "srflx", "prflx", "relay") once connected.
	LocalCandidate, RemoteCandidate string
	// Peers is how many viewers the master serves after the change: those
	// with a PeerConnection that is not ending (unlike Master.PeerCount,
	// which also counts ones still closing).
	Peers int
}

// Master is a channel's master peer, such as a camera: it answers the
// offers of up to MasterConfig.MaxViewers viewers at once, with one
// PeerConnection per viewer, sends each the same audio and video, and
// frees a viewer's PeerConnection when the viewer leaves or its
// connection fails. A viewer that offers again replaces its
// PeerConnection, unless the offer is an ICE restart of it. Create one
// with NewMaster and call Run.
type Master struct {
	cfg   MasterConfig
	log   *slog.Logger
	api   *webrtc.API
	setup peerSetup
	max   int // viewers served at once (MaxViewers or its default)
	video *webrtc.TrackLocalStaticSample
	audio *webrtc.TrackLocalStaticSample

	running   atomic.Bool
	live      atomic.Int32   // PeerConnections not yet closed
	closing   sync.WaitGroup // PeerConnections being closed
	callbacks callbackGate   // OnMessage, closed when Run ends

	mu      sync.Mutex
	stopped bool // Run is waiting for closing: no more closing.Add
	viewers map[string]*masterPeer
	sig     *SignalingClient
	ice     *iceServerCache
}

// NewMaster checks cfg and returns a Master. It performs no I/O.
func NewMaster(cfg MasterConfig) (*Master, error) {
	if cfg.Client == nil || cfg.Channel == "" {
		return nil, errors.New("client: MasterConfig needs a Client and a Channel")
	}
	if err := checkSTUNURL(cfg.ICE.STUNURL); err != nil {
		return nil, err
	}
	if cfg.MaxViewers < 0 {
		return nil, fmt.Errorf("client: MasterConfig.MaxViewers is %d; it must be positive, or zero for the default", cfg.MaxViewers)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "master")
	api, err := cfg.ICE.newAPI(logger)
	if err != nil {
		return nil, err
	}
	m := &Master{cfg: cfg, log: logger, api: api, max: cfg.MaxViewers, viewers: map[string]*masterPeer{}}
	if m.max == 0 {
		m.max = DefaultMaxViewers
	}
	m.setup = peerSetup{kvs: cfg.Client, channel: cfg.Channel, create: cfg.CreateChannel, role: kvsapi.RoleMaster, log: logger}
	if m.video, err = newTrack(cfg.Video, "video"); err != nil {
		return nil, err
	}
	if m.audio, err = newTrack(cfg.Audio, "audio"); err != nil {
		return nil, err
	}
	return m, nil
}

// newTrack makes the track every viewer's PeerConnection shares for a
// source, or nil without a source.
func newTrack(src media.Source, id string) (*webrtc.TrackLocalStaticSample, error) {
	if src == nil {
		return nil, nil
	}
	capability := webrtc.RTPCodecCapability{MimeType: src.MimeType(), ClockRate: 90000}
	if !media.IsVideo(src.MimeType()) {
		capability.ClockRate, capability.Channels = 48000, 2
	}
	track, err := webrtc.NewTrackLocalStaticSample(capability, id, "switchboard")
	if err != nil {
		return nil, fmt.Errorf("client: %s track: %w", id, err)
	}
	return track, nil
}

// PeerCount returns how many viewers' PeerConnections the master holds,
// including those still closing.
func (m *Master) PeerCount() int { return int(m.live.Load()) }

// Send sends a message on the data channel of one viewer. It fails with
// ErrNoDataChannel when that viewer has no open data channel.
func (m *Master) Send(viewerID string, data []byte) error {
	m.mu.Lock()
	p := m.viewers[viewerID]
	m.mu.Unlock()
	if p == nil {
		return fmt.Errorf("client: viewer %q: %w", viewerID, ErrNoDataChannel)
	}
	return p.send(data)
}

// Broadcast sends a message to every viewer with an open data channel
// and returns how many it reached.
func (m *Master) Broadcast(data []byte) int {
	m.mu.Lock()
	peers := make([]*masterPeer, 0, len(m.viewers))
	for _, p := range m.viewers {
		peers = append(peers, p)
	}
	m.mu.Unlock()
	n := 0
	for _, p := range peers {
		if p.send(data) == nil {
			n++
		}
	}
	return n
}

// Run joins the channel as its master and serves viewers until ctx ends
// (it then returns nil) or something fails for good: the first join
// (unknown channel, refused credentials, unreachable endpoint, untrusted
// certificate; a throttled join is tried again a few times), a
// replacement by another master (ErrReplaced), a media source. When the signaling connection is lost for longer than its
// own reconnection tries, the master joins the channel again. Run returns
// after every PeerConnection is closed and every goroutine it started
// has ended; it may be called once.
func (m *Master) Run(ctx context.Context) error {
	if m.running.Swap(true) {
		return errors.New("client: Master.Run called twice")
	}
	j, err := m.setup.joinFirst(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before the join completed, as documented
		}
		return fmt.Errorf("client: master: %w", err)
	}
	m.mu.Lock()
	m.sig = j.sig
	m.ice = &iceServerCache{kvs: m.cfg.Client, https: j.https, arn: j.arn, stun: m.cfg.ICE.stunURL(m.cfg.Client), relayOnly: m.cfg.ICE.RelayOnly, log: m.log}
	m.mu.Unlock()
	if _, err := m.ice.get(ctx); errors.Is(err, ErrNoRelay) {
		j.sig.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srcErr := make(chan error, 2)
	var sources sync.WaitGroup
	m.play(ctx, &sources, m.cfg.Video, m.video, srcErr)
	m.play(ctx, &sources, m.cfg.Audio, m.audio, srcErr)
	err = m.serve(ctx, j, srcErr)
	cancel()
	m.closeAll()
	sources.Wait()
	m.mu.Lock()
	m.stopped = true // from here on drop closes peers itself
	m.mu.Unlock()
	m.closing.Wait()
	m.callbacks.close()
	return err
}

// play streams a source into its track in a goroutine.
func (m *Master) play(ctx context.Context, wg *sync.WaitGroup, src media.Source, track *webrtc.TrackLocalStaticSample, errs chan<- error) {
	if src == nil {
		return
	}
	wg.Go(func() {
		err := src.Stream(ctx, func(f media.Frame) error {
			// A write fails only for viewers that are going away, and must
			// not stop the others' stream.
			if err := track.WriteSample(pionmedia.Sample{Data: f.Data, Duration: f.Duration}); err != nil {
				m.log.Debug("writing sample", "track", track.ID(), "error", err)
			}
			return nil
		})
		if err != nil {
			errs <- fmt.Errorf("client: master: %s source: %w", track.Kind(), err)
		}
	})
}

// serve handles signaling events until ctx ends or a failure is final,
// joining the channel again when the signaling client gives up.
func (m *Master) serve(ctx context.Context, j joined, srcErr <-chan error) error {
	sig := j.sig
	defer func() { sig.Close() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-srcErr:
			return err
		case ev, ok := <-sig.Events():
			if ok {
				m.handle(ctx, sig, ev)
				continue
			}
			cause := sig.Err()
			if cause == nil {
				cause = ErrDisconnected
			}
			next, err := m.setup.rejoin(ctx, cause)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("client: master: %w", err)
			}
			sig.Close() // gave up already; this releases its transport
			sig = next.sig
			m.ice.moveTo(next.https, next.arn)
			m.mu.Lock()
			m.sig = sig
			m.mu.Unlock()
		}
	}
}

// handle reacts to one signaling event.
func (m *Master) handle(ctx context.Context, sig *SignalingClient, ev Event) {
	switch ev.MessageType {
	case kvsapi.ActionSDPOffer:
		offer, err := ev.SessionDescription()
		if err != nil || ev.SenderClientID == "" {
			m.log.Warn("ignoring an undecodable offer", "viewer", ev.SenderClientID, "error", err)
			return
		}
		m.onOffer(ctx, sig, ev.SenderClientID, offer)
	case kvsapi.ActionICECandidate:
		c, err := ev.ICECandidate()
		m.mu.Lock()
		p := m.viewers[ev.SenderClientID]
		m.mu.Unlock()
		if err == nil && p != nil {
			p.addRemoteCandidate(c)
		}
	case kvsapi.MessageReconnectICEServer:
		m.log.Info("the service asked for new ICE servers")
		m.ice.invalidate()
	case kvsapi.MessageStatusResponse:
		m.log.Warn("the service refused a message", "error", ev.StatusError())
	case EventStateChange:
		m.log.Info("signaling", "state", ev.State, "error", ev.Err)
	}
}

// onOffer answers a viewer's offer: on its current PeerConnection when
// the offer comes from it (an ICE restart or a renegotiation), otherwise
// on a new one that replaces any other of that viewer, unless the master
// serves as many viewers as it may.
func (m *Master) onOffer(ctx context.Context, sig *SignalingClient, viewerID string, offer SessionDescription) {
	fp := fingerprint(offer.SDP)
	m.mu.Lock()
	old := m.viewers[viewerID]
	m.mu.Unlock()
	if old != nil && old.fingerprint == fp && old.pc.SignalingState() == webrtc.SignalingStateStable {
		// An ICE restart gathers again: with current TURN credentials,
		// since the relay ends allocations whose credentials expired.
		// They must outlast the viewer's next restart, which comes when
		// its own servers, fetched just now, go stale, and never sooner
		// than minCredentialRestart: servers this master fetched a moment
		// after the viewer's previous round are about as stale as the
		// viewer's were, and are fetched again.
		if err := m.ice.refresh(ctx, old.pc, minCredentialRestart, nil); err != nil {
			m.log.Warn("refreshing ICE servers", "viewer", viewerID, "error", err)
		}
		if err := old.answer(ctx, sig, offer); err != nil {
			m.log.Warn("answering a viewer's new offer", "viewer", viewerID, "error", err)
			m.drop(old, "renegotiation failed")
		}
		return
	}
	if old != nil {
		m.drop(old, "replaced by a new offer") // frees its slot at once
	}
	if !m.admit(viewerID) {
		return
	}
	servers, err := m.ice.get(ctx)
	if err != nil {
		m.log.Warn("fetching ICE servers", "error", err)
		return
	}
	p, err := m.newPeer(viewerID, fp, servers)
	if err != nil {
		m.log.Warn("creating a peer connection", "viewer", viewerID, "error", err)
		return
	}
	m.mu.Lock()
	m.viewers[viewerID] = p
	m.mu.Unlock()
	if err := p.answer(ctx, sig, offer); err != nil {
		m.log.Warn("answering a viewer", "viewer", viewerID, "error", err)
		m.drop(p, "answer failed")
	}
}

// admit reports whether a viewer without a PeerConnection may have one,
// and reports a refusal. Only Run's goroutine adds viewers, so the count
// cannot grow between this check and the addition.
func (m *Master) admit(viewerID string) bool {
	n := m.viewerCount()
	if n < m.max {
		return true
	}
	m.log.Warn("refusing a viewer's offer: the master serves as many viewers as it may",
		"viewer", viewerID, "viewers", n, "max_viewers", m.max)
	if on := m.cfg.OnViewer; on != nil {
		err := fmt.Errorf("client: viewer %q: %w (MaxViewers %d)", viewerID, ErrTooManyViewers, m.max)
		on(ViewerEvent{ViewerID: viewerID, State: ViewerRefused, Err: err, Peers: n})
	}
	return false
}

// drop forgets a viewer's PeerConnection and closes it in the background.
// When it returns, no candidate of the PeerConnection is being sent or
// will be, so an answer the master sends next to the same viewer id (for
// a PeerConnection that replaces this one) cannot be overtaken by one.
func (m *Master) drop(p *masterPeer, why string) {
	if !m.forget(p) {
		return
	}
	p.out.close()
	m.log.Info("viewer peer connection closed", "viewer", p.id, "reason", why)
	m.mu.Lock()
	if m.stopped {
		// Run has started waiting for closing; adding to it now would race
		// with that wait, so close here.
		m.mu.Unlock()
		defer m.live.Add(-1)
		p.close()
		return
	}
	// Added under mu, so it happens before Run's Wait (see stopped).
	m.closing.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.closing.Done()
		defer m.live.Add(-1)
		p.close()
		// pion reports the closed state from a goroutine Run cannot wait
		// for; report it here, within closing, so that OnViewer is not
		// called after Run returns (a late call finds it reported).
		p.onState(webrtc.PeerConnectionStateClosed)
	}()
}

// forget removes a viewer's PeerConnection from the served ones and
// reports whether this call is the one that dropped it.
func (m *Master) forget(p *masterPeer) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.viewers[p.id] == p {
		delete(m.viewers, p.id)
	}
	return p.dropped.CompareAndSwap(false, true)
}

// closeAll drops every viewer.
func (m *Master) closeAll() {
	m.mu.Lock()
	peers := make([]*masterPeer, 0, len(m.viewers))
	for _, p := range m.viewers {
		peers = append(peers, p)
	}
	m.mu.Unlock()
	for _, p := range peers {
		m.drop(p, "master stopping")
	}
}

// viewerCount returns how many viewers have a PeerConnection.
func (m *Master) viewerCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.viewers)
}

// signaling returns the current signaling client.
func (m *Master) signaling() *SignalingClient {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sig
}
