package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/client/media"
)

// TestPeersVideoAudioAndData runs the SDK's Master and Viewer in this
// process over host candidates on loopback: the viewer receives the
// looping VP8 clip and Opus audio, measures time to first frame and ICE
// hole punching, and exchanges data-channel messages with the master; when
// it leaves, the master frees its PeerConnection.
func TestPeersVideoAudioAndData(t *testing.T) {
	srv := startServer(t, serverOptions{})
	kvs := srv.goClient(t)
	var master *client.Master
	master, _ = startMaster(t, kvs, client.MasterConfig{
		Channel: "peers", CreateChannel: true, ICE: loopbackICE(false),
		Video: fileSource(t, "clip.ivf"), Audio: fileSource(t, "clip.ogg"),
		OnMessage: func(viewerID string, data []byte) {
			_ = master.Send(viewerID, append([]byte("pong:"), data...))
		},
	})
	var (
		mu       sync.Mutex
		received []string
		keys     int
	)
	var viewer *client.Viewer
	viewer, run := startViewer(t, kvs, client.ViewerConfig{
		Channel: "peers", CreateChannel: true, ICE: loopbackICE(false), DataChannel: true,
		OnDataChannelOpen: func() { _ = viewer.Send([]byte("ping")) },
		OnMessage: func(data []byte) {
			mu.Lock()
			received = append(received, string(data))
			mu.Unlock()
		},
		OnFrame: func(mimeType string, f media.Frame) {
			if f.KeyFrame && media.IsVideo(mimeType) {
				mu.Lock()
				keys++
				mu.Unlock()
			}
		},
	})
	waitFor(t, 30*time.Second, "60 video frames", func() bool { return viewer.Stats().VideoFrames >= 60 })
	waitFor(t, 10*time.Second, "the data-channel reply", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) > 0
	})
	mu.Lock()
	if received[0] != "pong:ping" || keys == 0 {
		t.Errorf("data channel got %q, %d key frames", received, keys)
	}
	mu.Unlock()
	checkConnectedStats(t, viewer.Stats())
	if n := master.PeerCount(); n != 1 {
		t.Errorf("master holds %d peer connections, want 1", n)
	}
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the master to free the viewer's peer connection", func() bool { return master.PeerCount() == 0 })
}

// checkConnectedStats checks the statistics of a viewer receiving the VP8
// clip and Opus over host candidates.
func checkConnectedStats(t *testing.T, st client.ViewerStats) {
	t.Helper()
	if st.State != "connected" || st.LocalCandidate != "host" || st.RemoteCandidate != "host" ||
		st.VideoCodec != webrtc.MimeTypeVP8 || st.AudioCodec != webrtc.MimeTypeOpus || st.AudioFrames == 0 {
		t.Errorf("stats: %s, codecs %s %s", describeStats(st), st.VideoCodec, st.AudioCodec)
	}
	if st.TimeToFirstFrame <= 0 || st.TimeToFirstFrame > 20*time.Second || st.ICEHolePunchingDelay <= 0 || st.ICEHolePunchingDelay > st.TimeToFirstFrame {
		t.Errorf("time to first frame %v, ICE hole punching %v", st.TimeToFirstFrame, st.ICEHolePunchingDelay)
	}
	if st.Bitrate <= 0 || st.PacketsReceived == 0 || st.PacketLoss() > 0.05 {
		t.Errorf("bitrate %.0f, packets %d lost %d", st.Bitrate, st.PacketsReceived, st.PacketsLost)
	}
}

// TestPeersCodecs streams the H.264 and VP9 clips: the viewer puts the
// frames back together exactly as the file holds them.
func TestPeersCodecs(t *testing.T) {
	srv := startServer(t, serverOptions{})
	kvs := srv.goClient(t)
	for _, tc := range []struct{ clip, mimeType string }{
		{"clip.h264", webrtc.MimeTypeH264},
		{"clip-vp9.ivf", webrtc.MimeTypeVP9},
	} {
		t.Run(tc.mimeType, func(t *testing.T) {
			channel := strings.ReplaceAll(tc.clip, ".", "-")
			_, master := startMaster(t, kvs, client.MasterConfig{Channel: channel, CreateChannel: true, ICE: loopbackICE(false), Video: fileSource(t, tc.clip)})
			var (
				mu     sync.Mutex
				frames []string
			)
			viewer, run := startViewer(t, kvs, client.ViewerConfig{
				Channel: channel, CreateChannel: true, ICE: loopbackICE(false),
				OnFrame: func(mimeType string, f media.Frame) {
					if mimeType == tc.mimeType {
						mu.Lock()
						frames = append(frames, stripStartCodes(f.Data))
						mu.Unlock()
					}
				},
			})
			waitFor(t, 30*time.Second, "40 frames", func() bool { return viewer.Stats().VideoFrames >= 40 })
			_ = run.stop()
			_ = master.stop()
			source := map[string]bool{}
			for _, f := range readFrames(t, clip(tc.clip)) {
				source[stripStartCodes(f.Data)] = true
			}
			mu.Lock()
			defer mu.Unlock()
			for i, f := range frames {
				if !source[f] {
					t.Fatalf("received frame %d of %d (%d bytes) is not a frame of %s", i, len(frames), len(f), tc.clip)
				}
			}
		})
	}
}

// stripStartCodes reduces an Annex-B access unit to its NAL units, as
// senders may use three- or four-byte start codes (other codecs' frames
// are compared as they are).
func stripStartCodes(b []byte) string {
	s := strings.ReplaceAll(string(b), "\x00\x00\x00\x01", "|")
	return strings.ReplaceAll(s, "\x00\x00\x01", "|")
}
