package main

// The viewer's live status line and its JSON statistics.

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
)

// status prints a viewer's statistics every interval: redrawn in place
// on a terminal, one line each time otherwise, or JSON lines.
type status struct {
	out      *printer
	terminal bool
	ttff     bool // time to first frame printed
	punch    bool // ICE hole-punching delay printed
}

func newStatus(out *printer, terminal bool) *status {
	return &status{out: out, terminal: terminal && !out.json}
}

// run prints until ctx ends.
func (s *status) run(ctx context.Context, v *client.Viewer, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.print(v.Stats(), false)
		}
	}
}

// final prints the statistics once more when the viewer stops.
func (s *status) final(st client.ViewerStats) {
	if s.terminal {
		s.out.mu.Lock()
		fmt.Fprint(s.out.w, "\r\033[K")
		s.out.mu.Unlock()
	}
	s.terminal = false
	s.print(st, true)
}

func (s *status) print(st client.ViewerStats, final bool) {
	if s.out.json {
		s.out.object(statsJSON(st, final))
		return
	}
	s.milestones(st)
	line := statusLine(st)
	if final {
		line = "final: " + line
	}
	if !s.terminal {
		s.out.line("%s", line)
		return
	}
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	fmt.Fprintf(s.out.w, "\r\033[K%s", line)
}

// milestones prints the time to first frame and the hole-punching delay
// on lines of their own, once each.
func (s *status) milestones(st client.ViewerStats) {
	clear := ""
	if s.terminal {
		clear = "\r\033[K"
	}
	if st.ICEHolePunchingDelay > 0 && !s.punch {
		s.punch = true
		s.out.line("%sICE hole punching delay: %s", clear, st.ICEHolePunchingDelay.Round(time.Millisecond))
	}
	if st.TimeToFirstFrame > 0 && !s.ttff {
		s.ttff = true
		s.out.line("%stime to first frame: %s", clear, st.TimeToFirstFrame.Round(time.Millisecond))
	}
}

// statusLine is the human status: state, candidate pair, bitrate, frames,
// packet loss, round-trip time.
func statusLine(st client.ViewerStats) string {
	state := st.State
	if state == "" {
		state = "offering"
	}
	pair := "-/-"
	if st.LocalCandidate != "" {
		pair = st.LocalCandidate + "/" + st.RemoteCandidate
	}
	return fmt.Sprintf("%-12s pair %-11s %7.0f kbit/s  frames %6d  audio %6d  loss %5.2f%%  rtt %s",
		state, pair, st.Bitrate/1000, st.VideoFrames, st.AudioFrames, 100*st.PacketLoss(), st.RoundTripTime.Round(100*time.Microsecond))
}

// statsJSON is the machine-readable form of the statistics, durations in
// milliseconds.
func statsJSON(st client.ViewerStats, final bool) map[string]any {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return map[string]any{
		"event":                  "stats",
		"final":                  final,
		"time":                   time.Now().UTC().Format(time.RFC3339Nano),
		"clientId":               st.ClientID,
		"state":                  st.State,
		"peerConnections":        st.PeerConnections,
		"iceRestarts":            st.ICERestarts,
		"localCandidateType":     st.LocalCandidate,
		"remoteCandidateType":    st.RemoteCandidate,
		"videoCodec":             st.VideoCodec,
		"audioCodec":             st.AudioCodec,
		"videoFramesReceived":    st.VideoFrames,
		"audioFramesReceived":    st.AudioFrames,
		"bytesReceived":          st.BytesReceived,
		"bitrateBps":             st.Bitrate,
		"packetsReceived":        st.PacketsReceived,
		"packetsLost":            st.PacketsLost,
		"packetLoss":             st.PacketLoss(),
		"roundTripTimeMs":        ms(st.RoundTripTime),
		"timeToFirstFrameMs":     ms(st.TimeToFirstFrame),
		"iceHolePunchingDelayMs": ms(st.ICEHolePunchingDelay),
	}
}
