package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Timings of the peers' signaling recovery.
const (
	// redialBackoff is the first delay before a peer sets up signaling
	// again after its SignalingClient gave up; it doubles up to
	// maxReconnectBackoff.
	redialBackoff = time.Second
	// throttledJoinBackoff and firstJoinAttempts pace a first join the
	// server throttles: up to about 35 s of waiting in all.
	throttledJoinBackoff = 500 * time.Millisecond
	firstJoinAttempts    = 8
	// closeGrace bounds the graceful close of one PeerConnection.
	closeGrace = 5 * time.Second
)

// DataChannelLabel is the label of the data channel a Viewer opens, the
// one the KVS sample viewers use.
const DataChannelLabel = "kvsDataChannel"

// maxRemoteCandidates bounds the remote ICE candidates a peer takes in
// one round of ICE: those a Viewer keeps while it waits for the master's
// answer and adds after it, and those a Master hands to pion for a
// viewer's offer. A round ends only when the ICE credentials change (a
// new session or an ICE restart), not with a repeated offer. Extras are
// dropped (logged at debug level). One gathering of a real peer yields a
// candidate per interface, address family, transport and server, a few
// dozen at most, and the KVS C SDK keeps no more than 100 remote
// candidates either; the bound keeps a misbehaving peer from growing
// memory and pion's work (a goroutine and candidate pairs for each
// candidate) without end.
const maxRemoteCandidates = 100

// candidateBudget counts the remote candidates of one round of ICE
// against maxRemoteCandidates.
type candidateBudget struct{ added, dropped int }

// take reports whether one more candidate fits in the round; the first
// refusal is logged.
func (b *candidateBudget) take(log *slog.Logger) bool {
	if b.added >= maxRemoteCandidates {
		b.dropped++
		if b.dropped == 1 {
			log.Debug("dropping remote candidates beyond the limit for this round of ICE", "limit", maxRemoteCandidates)
		}
		return false
	}
	b.added++
	return true
}

// reset starts a new round, logging what the last one dropped.
func (b *candidateBudget) reset(log *slog.Logger) {
	if b.dropped > 0 {
		log.Debug("remote candidates dropped in the previous round of ICE", "count", b.dropped)
	}
	*b = candidateBudget{}
}

// callbackGate runs the user's callbacks that pion calls from goroutines
// a peer cannot wait for (a data channel's open handler runs on a
// goroutine of its own that closing the PeerConnection does not wait
// for). Run closes it on its way out, after closing every
// PeerConnection: closing waits for a callback under way, and a callback
// that comes later is not made, so that none runs after Run returns.
type callbackGate struct {
	mu     sync.RWMutex
	closed bool
}

// run calls f unless the gate is closed.
func (g *callbackGate) run(f func()) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if !g.closed {
		f()
	}
}

// close waits for the callbacks under way and refuses later ones.
func (g *callbackGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
}

// peerSetup is what a Master and a Viewer share to join a channel.
type peerSetup struct {
	kvs      *Client
	channel  string // name or ARN
	create   bool
	role     string
	clientID string
	log      *slog.Logger
}

// joined is a channel a peer has joined: its ARN, its HTTPS endpoint and
// the signaling connection.
type joined struct {
	arn   string
	https string
	sig   *SignalingClient
}

// join finds (or creates) the channel, asks for its endpoints and opens
// the signaling connection, which reconnects on its own after GO_AWAY or
// a dropped socket.
func (s *peerSetup) join(ctx context.Context) (joined, error) {
	var (
		info *kvsapi.ChannelInfo
		err  error
	)
	if s.create {
		info, err = s.kvs.EnsureChannel(ctx, s.channel)
	} else {
		info, err = s.kvs.DescribeSignalingChannel(ctx, s.channel)
	}
	if err != nil {
		return joined{}, fmt.Errorf("channel %q: %w", s.channel, err)
	}
	eps, err := s.kvs.GetSignalingChannelEndpoint(ctx, info.ChannelARN, s.role)
	if err != nil {
		return joined{}, err
	}
	sig, err := DialSignaling(ctx, SignalingConfig{
		Endpoint:    eps.WSS,
		ChannelARN:  info.ChannelARN,
		Role:        s.role,
		ClientID:    s.clientID,
		Region:      s.kvs.region,
		Credentials: s.kvs.creds,
		TLSConfig:   s.kvs.tls,
		Reconnect:   true,
		clock:       s.kvs.clock,
		Logger:      s.log,
	})
	if err != nil {
		return joined{}, err
	}
	return joined{arn: info.ChannelARN, https: eps.HTTPS, sig: sig}, nil
}

// joinFirst is the first join of a peer's Run. A refusal that will not
// change (unknown channel, bad credentials, unreachable endpoint) fails it
// at once, so that a mistake shows; but a throttled call is tried again,
// after growing, randomised delays, up to firstJoinAttempts times in all:
// a channel's per-channel quotas (KVS's and ours, 5 DescribeSignalingChannel
// calls per second) are exceeded whenever a few peers join it within the
// same second, and that passes.
func (s *peerSetup) joinFirst(ctx context.Context) (joined, error) {
	for attempt := 1; ; attempt++ {
		j, err := s.join(ctx)
		if err == nil || !IsThrottled(err) || attempt == firstJoinAttempts || ctx.Err() != nil {
			return j, err
		}
		delay := backoff(throttledJoinBackoff, attempt-1)
		s.log.Info("the server throttled joining the channel; trying again", "in", delay, "error", err)
		select {
		case <-ctx.Done():
			return joined{}, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// rejoin joins again after the signaling client gave up, with growing,
// randomised delays, until it succeeds, ctx ends (nil, ctx.Err()) or a failure is
// final (the channel was deleted, the credentials were revoked, the
// connection was replaced).
func (s *peerSetup) rejoin(ctx context.Context, cause error) (joined, error) {
	if !recoverable(cause) {
		return joined{}, cause
	}
	for attempt := 0; ; attempt++ {
		// Jittered like the signaling client's reconnects, so that peers
		// cut off together (a server restart) do not come back in step.
		delay := backoff(redialBackoff, attempt)
		s.log.Info("joining the channel again", "in", delay, "cause", cause)
		select {
		case <-ctx.Done():
			return joined{}, ctx.Err()
		case <-time.After(delay):
		}
		j, err := s.join(ctx)
		switch {
		case err == nil:
			return j, nil
		case ctx.Err() != nil:
			return joined{}, ctx.Err()
		case !recoverable(err):
			return joined{}, err
		}
		cause = err
	}
}

// recoverable reports whether joining again may help after err: not
// after a replacement, nor after refusals that will not change (unknown
// channel, bad credentials, untrusted certificate).
func recoverable(err error) bool {
	if errors.Is(err, ErrReplaced) {
		return false
	}
	return retryable(err)
}

// candidateOutbox holds a PeerConnection's local ICE candidates until its
// SDP has been sent, then sends them as they come, so that the remote
// peer never gets a candidate before the description it belongs to.
// Candidates are sent under its lock, so that hold and close, which take
// it, wait for a candidate already being sent: the description sent after
// them (an ICE restart's, or the one of the PeerConnection that replaces
// this one) is never overtaken by it.
type candidateOutbox struct {
	send func(ICECandidate)

	mu     sync.Mutex
	open   bool
	closed bool // the PeerConnection was dropped or replaced: send nothing more
	queued []ICECandidate
}

// add sends c, or queues it until release.
func (o *candidateOutbox) add(c *webrtc.ICECandidate) {
	if c == nil {
		return // end of gathering: KVS peers do not signal it
	}
	cand := outgoingCandidate(c)
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.closed:
	case !o.open:
		o.queued = append(o.queued, cand)
	default:
		o.send(cand)
	}
}

// release sends the queued candidates and lets later ones through.
func (o *candidateOutbox) release() {
	o.mu.Lock()
	defer o.mu.Unlock()
	queued := o.queued
	o.queued, o.open = nil, true
	if o.closed {
		return
	}
	for _, c := range queued {
		o.send(c)
	}
}

// hold queues candidates again, while a new offer (an ICE restart) is
// prepared.
func (o *candidateOutbox) hold() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.open = false
}

// close stops sending for good, once a candidate being sent has gone.
func (o *candidateOutbox) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed, o.queued = true, nil
}

// outgoingCandidate is a local candidate as it is signaled, labelled with
// the username fragment of its round of ICE when that is known for sure.
//
// pion's ToJSON leaves usernameFragment out, but pion/ice writes a "ufrag"
// extension into the candidate line, from the ICE agent's own loop, at the
// moment the agent takes the candidate into its local set; an ICE restart
// changes the agent's credentials in that same loop. The extension is
// therefore the ufrag of the round the candidate really belongs to, even
// for a candidate of an old round that pion hands over after the restart
// and that waited in the outbox until the new description went out.
// Taking the ufrag of the local description instead would be wrong for
// exactly that candidate, and would make the remote peer add it to the
// new round. Without the extension the member is left out, as before.
func outgoingCandidate(c *webrtc.ICECandidate) ICECandidate {
	init := c.ToJSON()
	cand := ICECandidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex, UsernameFragment: init.UsernameFragment}
	if cand.UsernameFragment == nil {
		if ufrag := candidateLineUfrag(cand.Candidate); ufrag != "" {
			cand.UsernameFragment = &ufrag
		}
	}
	return cand
}

// candidateLineUfrag returns the value of the "ufrag" extension of a
// candidate line (RFC 8839 section 5.1: extensions are name and value
// pairs after the candidate type and its optional related address and TCP
// type), or "".
func candidateLineUfrag(line string) string {
	fields := strings.Fields(line)
	typ := slices.Index(fields, "typ")
	if typ < 0 {
		return ""
	}
	for i := typ + 2; i+1 < len(fields); i += 2 {
		if fields[i] == "ufrag" {
			return fields[i+1]
		}
	}
	return ""
}

// iceUfrags returns the ice-ufrag values of an SDP, session and media
// level alike.
func iceUfrags(sdp string) []string {
	var ufrags []string
	for line := range strings.SplitSeq(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok && v != "" {
			ufrags = append(ufrags, v)
		}
	}
	return ufrags
}

// staleUfrag returns the username fragment a remote candidate claims (its
// usernameFragment member, or else the ufrag extension of its line) when
// that is not one of current, the ice-ufrag values of the remote
// description it would be added to: the candidate belongs to another
// round of ICE (one before an ICE restart, or a replaced PeerConnection)
// and must be dropped. It returns "" for a candidate that claims none or
// a current one, and when current is empty (a description without
// ice-ufrag leaves nothing to compare with).
func staleUfrag(c ICECandidate, current []string) string {
	if len(current) == 0 {
		return ""
	}
	claimed := []string{candidateLineUfrag(c.Candidate)}
	if c.UsernameFragment != nil {
		claimed = append(claimed, *c.UsernameFragment)
	}
	for _, ufrag := range claimed {
		if ufrag != "" && !slices.Contains(current, ufrag) {
			return ufrag
		}
	}
	return ""
}

// toICECandidateInit converts a signaled candidate for pion.
func toICECandidateInit(c ICECandidate) webrtc.ICECandidateInit {
	return webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
}

// fingerprint returns the DTLS certificate fingerprints of an SDP, which
// identify the PeerConnection that wrote it: an ICE restart keeps them,
// a new PeerConnection (or a restarted process) changes them.
func fingerprint(sdp string) string {
	var prints []string
	for line := range strings.SplitSeq(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=fingerprint:"); ok {
			prints = append(prints, strings.ToLower(v))
		}
	}
	slices.Sort(prints)
	return strings.Join(slices.Compact(prints), ",")
}

// iceCredentials returns the ICE username fragments and passwords of an
// SDP: a new round of ICE (a new session or an ICE restart) changes them,
// a repeated or renegotiating offer keeps them.
func iceCredentials(sdp string) string {
	var creds []string
	for line := range strings.SplitSeq(sdp, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "a=ice-ufrag:") || strings.HasPrefix(line, "a=ice-pwd:") {
			creds = append(creds, line)
		}
	}
	slices.Sort(creds)
	return strings.Join(slices.Compact(creds), "\n")
}

// selectedPair returns the candidate types of a PeerConnection's selected
// pair ("host", "srflx", "prflx" or "relay"), or empty strings.
func selectedPair(pc *webrtc.PeerConnection) (local, remote string) {
	t := iceTransport(pc)
	if t == nil {
		return "", ""
	}
	pair, err := t.GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local == nil || pair.Remote == nil {
		return "", ""
	}
	return pair.Local.Typ.String(), pair.Remote.Typ.String()
}

// iceTransport returns a PeerConnection's ICE transport once ICE has
// connected, or nil. Asking earlier races with pion starting the
// transport, which it does without a lock the reader could take; the ICE
// state, read atomically, orders the two.
func iceTransport(pc *webrtc.PeerConnection) *webrtc.ICETransport {
	switch pc.ICEConnectionState() {
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted, webrtc.ICEConnectionStateDisconnected:
	default:
		return nil
	}
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil {
		return nil
	}
	return sctp.Transport().ICETransport()
}

// closePeerConnection closes pc gracefully, waiting for its goroutines,
// but no longer than closeGrace.
func closePeerConnection(pc *webrtc.PeerConnection, log *slog.Logger) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := pc.GracefulClose(); err != nil {
			log.Debug("closing peer connection", "error", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(closeGrace):
		log.Warn("peer connection did not close in time")
	}
}
