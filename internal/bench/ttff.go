package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
)

// ttffSession is one master and viewer meeting through the server.
type ttffSession struct {
	TTFF            time.Duration `json:"time_to_first_frame_ns"`
	HolePunch       time.Duration `json:"ice_hole_punching_delay_ns"`
	Local, Remote   string        `json:"-"`
	VideoFrames     uint64        `json:"video_frames"`
	CandidatePair   string        `json:"candidate_pair"`
	Err             string        `json:"error,omitempty"`
	PeerConnections int           `json:"peer_connections"`
}

func runTTFF(ctx context.Context, opts Options) (*Report, error) {
	n := pick(opts.N, opts.Smoke, 3, 20)
	rep := newReport("ttff", opts)
	rep.Settings = map[string]any{"sessions": n, "ice": "relay only (embedded TURN over UDP on loopback), host candidates on lo",
		"peers": "client.Master and client.Viewer (SDK, pion/webrtc)", "media": "synthetic VP8, 30 frames/s, 2 KB frames, key frame every second",
		"measured": "ViewerStats.TimeToFirstFrame (viewer Run to first whole frame) and ICEHolePunchingDelay (offer to ICE connecting); the master joins first"}
	yaml := limitsYAML(`turn:
  udp_addr: 127.0.0.1:0
  tcp_addr: 127.0.0.1:0
  tls_addr: ""
  relay_ip: 127.0.0.1
  allow_peers: ["127.0.0.0/8"]
`)
	srv, stop, err := startScratchServer(ctx, opts, serverSpec{yaml: yaml})
	if err != nil {
		return nil, err
	}
	defer stop()
	// The peers' signaling connections take their TLS settings from the
	// client's TLSConfig.
	kvs, err := client.New(client.Config{Endpoint: srv.Endpoint, Region: benchRegion, Credentials: client.StaticCredentials(srv.Creds), TLSConfig: srv.TLS})
	if err != nil {
		return nil, err
	}
	var sessions []ttffSession
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		s := oneTTFF(ctx, srv, kvs, fmt.Sprintf("bench-ttff-%03d", i))
		progressf(opts, "ttff: session %d: first frame %s ms, hole punching %s ms, pair %s %s", i+1, ms(s.TTFF), ms(s.HolePunch), s.CandidatePair, s.Err)
		sessions = append(sessions, s)
	}
	reportTTFF(rep, sessions, n)
	return rep, nil
}

// oneTTFF runs a master, waits until it has joined, then runs a viewer
// until its first frame.
func oneTTFF(ctx context.Context, srv *server, kvs *client.Client, channel string) ttffSession {
	relayOnly := client.ICEConfig{RelayOnly: true, Interfaces: []string{"lo"}}
	master, err := client.NewMaster(client.MasterConfig{Client: kvs, Channel: channel, CreateChannel: true, ICE: relayOnly, Video: syntheticVP8{}})
	if err != nil {
		return ttffSession{Err: err.Error()}
	}
	mctx, stopMaster := context.WithCancel(ctx)
	mdone := make(chan error, 1)
	go func() { mdone <- master.Run(mctx) }()
	defer func() { stopMaster(); waitRun(mdone) }()
	if err := waitMaster(ctx, srv, kvs, channel, mdone); err != nil {
		return ttffSession{Err: err.Error()}
	}
	viewer, err := client.NewViewer(client.ViewerConfig{Client: kvs, Channel: channel, ICE: relayOnly})
	if err != nil {
		return ttffSession{Err: err.Error()}
	}
	vctx, stopViewer := context.WithCancel(ctx)
	vdone := make(chan error, 1)
	go func() { vdone <- viewer.Run(vctx) }()
	defer func() { stopViewer(); waitRun(vdone) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st := viewer.Stats()
		if st.TimeToFirstFrame > 0 && st.ICEHolePunchingDelay > 0 {
			return ttffSession{TTFF: st.TimeToFirstFrame, HolePunch: st.ICEHolePunchingDelay, VideoFrames: st.VideoFrames,
				CandidatePair: st.LocalCandidate + "/" + st.RemoteCandidate, PeerConnections: st.PeerConnections}
		}
		select {
		case err := <-vdone:
			vdone <- err
			return ttffSession{Err: fmt.Sprintf("viewer stopped: %v", err)}
		case <-time.After(5 * time.Millisecond):
		}
	}
	return ttffSession{Err: "no frame within 30s"}
}

// waitMaster polls presence until the master has joined the channel.
func waitMaster(ctx context.Context, srv *server, kvs *client.Client, channel string, done chan error) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("master stopped: %w", err)
		default:
		}
		if info, err := kvs.DescribeSignalingChannel(ctx, channel); err == nil {
			if ok, err := srv.masterConnected(ctx, info.ChannelARN); err == nil && ok {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("the master did not join within 20s")
}

func waitRun(done chan error) {
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
}

func reportTTFF(rep *Report, sessions []ttffSession, want int) {
	var ttff, punch samples
	t := Table{Title: "sessions (relay forced)", Columns: []string{"session", "first frame ms", "hole punching ms", "pair", "error"}}
	failed := 0
	for i, s := range sessions {
		t.Rows = append(t.Rows, []string{fmt.Sprint(i + 1), ms(s.TTFF), ms(s.HolePunch), s.CandidatePair, s.Err})
		if s.Err != "" {
			failed++
			continue
		}
		ttff, punch = append(ttff, s.TTFF), append(punch, s.HolePunch)
	}
	rep.Tables = append(rep.Tables, t)
	ts, ps := summarize(ttff), summarize(punch)
	rep.Tables = append(rep.Tables, Table{Title: "summary", Columns: []string{"measure", "p50 ms", "p95 ms", "max ms"},
		Rows: [][]string{{"time to first frame", ms(ts.P50), ms(ts.P95), ms(ts.Max)}, {"ICE hole punching delay", ms(ps.P50), ms(ps.P95), ms(ps.Max)}}})
	rep.Figures["ttff_p50_ms"], rep.Figures["ttff_p95_ms"] = latencyMS(ts, ts.P50), latencyMS(ts, ts.P95)
	rep.Figures["hole_punching_p50_ms"], rep.Figures["hole_punching_p95_ms"] = latencyMS(ps, ps.P50), latencyMS(ps, ps.P95)
	rep.target("time to first frame p50", latencyMS(ts, ts.P50), 150, false, "ms")
	rep.target("time to first frame p95", latencyMS(ts, ts.P95), 400, false, "ms")
	relayed := 0
	for _, s := range sessions {
		if s.CandidatePair == "relay/relay" {
			relayed++
		}
	}
	rep.check("every session got its first frame", len(sessions) == want && failed == 0, "%d of %d sessions, %d failed", len(sessions)-failed, want, failed)
	rep.check("every session went through the relay", relayed == len(sessions)-failed && relayed > 0, "%d sessions on relay/relay", relayed)
}
