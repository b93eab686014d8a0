package client

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/client/media"
)

// ViewerStats describes a Viewer's connection at one moment. Counters of
// frames and bytes add up over every PeerConnection of the viewer; packet
// counts, candidates and round-trip time are those of the current one.
type ViewerStats struct {
	// ClientID is the viewer's client id.
	ClientID string
	// State is the current PeerConnection's state in the W3C names
	// ("new", "connecting", "connected", "disconnected", "failed",
	// "closed"), or "" between PeerConnections.
	State string
	// PeerConnections counts the PeerConnections offered so far: 1, plus
	// one per recovery after a failure or a master restart.
	PeerConnections int
	// ICERestarts counts the ICE restarts that reconnected.
	ICERestarts int
	// LocalCandidate and RemoteCandidate are the types of the selected
	// candidate pair ("host", "srflx", "prflx", "relay"), once connected.
	LocalCandidate, RemoteCandidate string
	// VideoCodec and AudioCodec are the MIME types received, if any.
	VideoCodec, AudioCodec string
	// VideoFrames counts the video frames received whole (put back
	// together from their RTP packets; nothing is decoded).
	VideoFrames uint64
	// AudioFrames counts the audio packets received.
	AudioFrames uint64
	// BytesReceived counts RTP payload bytes.
	BytesReceived uint64
	// Bitrate is the RTP payload rate of the last 1.5 seconds, in bits per
	// second.
	Bitrate float64
	// PacketsReceived and PacketsLost count RTP packets of the current
	// PeerConnection, as its statistics report them.
	PacketsReceived uint64
	PacketsLost     int64
	// RoundTripTime is the ICE round-trip time of the selected pair.
	RoundTripTime time.Duration
	// TimeToFirstFrame is the time from Run to the first whole video
	// frame, 0 until then (the KVS SDKs' "time to first frame").
	TimeToFirstFrame time.Duration
	// ICEHolePunchingDelay is the time from the latest offer (ICE
	// gathering starts) to ICE connecting, 0 until then (the KVS SDKs'
	// "ICE hole punching delay").
	ICEHolePunchingDelay time.Duration
}

// PacketLoss returns the share of RTP packets lost, from 0 to 1.
func (s ViewerStats) PacketLoss() float64 {
	total := float64(s.PacketsReceived) + float64(s.PacketsLost)
	if total <= 0 || s.PacketsLost <= 0 {
		return 0
	}
	return float64(s.PacketsLost) / total
}

// counters are a Viewer's running totals.
type counters struct {
	videoFrames, audioFrames, bytes atomic.Uint64
	sessions, restarts              atomic.Int64
	firstFrame, holePunch           atomic.Int64 // durations in nanoseconds
	rate                            rateMeter

	mu                     sync.Mutex
	videoCodec, audioCodec string
}

func (c *counters) setCodec(mimeType string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if media.IsVideo(mimeType) {
		c.videoCodec = mimeType
	} else {
		c.audioCodec = mimeType
	}
}

// Stats returns the viewer's statistics. It is safe to call at any time,
// from any goroutine.
func (v *Viewer) Stats() ViewerStats {
	c := &v.count
	st := ViewerStats{
		ClientID:             v.cfg.ClientID,
		PeerConnections:      int(c.sessions.Load()),
		ICERestarts:          int(c.restarts.Load()),
		VideoFrames:          c.videoFrames.Load(),
		AudioFrames:          c.audioFrames.Load(),
		BytesReceived:        c.bytes.Load(),
		Bitrate:              c.rate.bitsPerSecond(time.Now()),
		TimeToFirstFrame:     time.Duration(c.firstFrame.Load()),
		ICEHolePunchingDelay: time.Duration(c.holePunch.Load()),
	}
	c.mu.Lock()
	st.VideoCodec, st.AudioCodec = c.videoCodec, c.audioCodec
	c.mu.Unlock()
	v.mu.Lock()
	s, last := v.sess, v.last
	v.mu.Unlock()
	switch {
	case s != nil:
		fillSessionStats(&st, s)
	case last != nil:
		st.State, st.LocalCandidate, st.RemoteCandidate = last.State, last.LocalCandidate, last.RemoteCandidate
		st.RoundTripTime, st.PacketsReceived, st.PacketsLost = last.RoundTripTime, last.PacketsReceived, last.PacketsLost
	}
	return st
}

// fillSessionStats sets the fields that describe a session's
// PeerConnection.
func fillSessionStats(st *ViewerStats, s *viewerSession) {
	s.configMu.Lock()
	defer s.configMu.Unlock()
	pc := s.pc
	st.State = pc.ConnectionState().String()
	st.LocalCandidate, st.RemoteCandidate = selectedPair(pc)
	st.RoundTripTime = roundTripTime(pc)
	st.PacketsReceived, st.PacketsLost = 0, 0
	for _, report := range pc.GetStats() {
		if in, ok := report.(webrtc.InboundRTPStreamStats); ok {
			st.PacketsReceived += uint64(in.PacketsReceived)
			st.PacketsLost += int64(in.PacketsLost)
		}
	}
}

// roundTripTime is the current round-trip time of the selected pair.
func roundTripTime(pc *webrtc.PeerConnection) time.Duration {
	t := iceTransport(pc)
	if t == nil {
		return 0
	}
	pair, ok := t.GetSelectedCandidatePairStats()
	if !ok {
		return 0
	}
	return time.Duration(pair.CurrentRoundTripTime * float64(time.Second))
}

// rateBucket is the width of one bucket of a rateMeter.
const rateBucket = 500 * time.Millisecond

// rateMeter measures a byte rate over the last few complete buckets.
type rateMeter struct {
	mu      sync.Mutex
	buckets [4]uint64
	index   [4]int64 // which bucket number each slot holds
}

func (r *rateMeter) add(n int, now time.Time) {
	i := now.UnixNano() / int64(rateBucket)
	r.mu.Lock()
	defer r.mu.Unlock()
	slot := i % int64(len(r.buckets))
	if r.index[slot] != i {
		r.index[slot], r.buckets[slot] = i, 0
	}
	r.buckets[slot] += uint64(n)
}

// bitsPerSecond is the rate of the three buckets before the current one.
func (r *rateMeter) bitsPerSecond(now time.Time) float64 {
	cur := now.UnixNano() / int64(rateBucket)
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum uint64
	const complete = 3
	for slot, i := range r.index {
		if i < cur && i >= cur-complete {
			sum += r.buckets[slot]
		}
	}
	return float64(sum*8) / (complete * rateBucket).Seconds()
}
