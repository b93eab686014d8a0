package e2e

import (
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/client/media"
)

// TestCLIMasterLiveStdin pipes the VP8 clip into `switchboard master
// --video -`, as an encoder would write it, and records it with
// `switchboard viewer --output` (host candidates on loopback). The master
// reads stdin once, paced by the timestamps: the first two frames let it
// tell the format and join the channel, and the rest is written once the
// viewer is connected. The viewer's recording is the clip's frames in
// order from a key frame, and it received no frame before that key frame
// (the master's stream starts at one). When stdin ends, the master says
// so and exits with status 0.
func TestCLIMasterLiveStdin(t *testing.T) {
	srv := startServer(t, serverOptions{})
	env := srv.peerEnv(t)
	master, stdin := startPeerWithStdin(t, "master", env, "master", "--channel", "live", "--create",
		"--interfaces", "lo", "--video", "-")
	clipFrames := readFrames(t, clip("clip.ivf"))
	input := append(slices.Clone(clipFrames), clipFrames...) // 6 s: key frames at 0, 30, ..., 150
	resume := make(chan struct{})
	fed := make(chan error, 1)
	go func() { fed <- writeLiveIVF(stdin, input, 2, resume) }()

	master.waitLine(30*time.Second, "master on channel")
	out := filepath.Join(t.TempDir(), "live.ivf")
	viewer := startPeer(t, "viewer", env, "viewer", "--channel", "live", "--interfaces", "lo", "--client-id", "recorder",
		"--frames", "90", "--output", out, "--json", "--stats-interval", "250ms")
	master.waitLine(60*time.Second, "viewer recorder connected")
	close(resume)
	if code := viewer.wait(60 * time.Second); code != 0 {
		t.Fatalf("viewer exited with status %d", code)
	}

	saved := readFrames(t, out)
	if len(saved) != 90 {
		t.Fatalf("saved %d frames, want 90", len(saved))
	}
	start, err := matchLoopedFrames(saved, clipFrames)
	if err != nil {
		t.Fatal(err)
	}
	if start%30 != 0 || !saved[0].KeyFrame {
		t.Fatalf("the recording starts at clip frame %d, want a key frame (0, 30 or 60)", start)
	}
	st := viewer.lastStats()
	// Had the master sent the frames before that key frame, the viewer
	// would have received 29 more than it saved.
	if received := number(st, "videoFramesReceived"); st["final"] != true || received < 90 || received > 100 {
		t.Fatalf("final stats: %v; want 90 to 100 frames received for the 90 saved", st)
	}
	t.Logf("the recording starts at clip frame %d; time to first frame %.0f ms", start, number(st, "timeToFirstFrameMs"))

	select {
	case err := <-fed:
		if err != nil {
			t.Fatalf("writing the master's stdin: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the master did not read its stdin")
	}
	stdin.Close()
	if code := master.wait(30 * time.Second); code != 0 {
		t.Fatalf("master exited with status %d at the end of its stdin", code)
	}
	lines := master.stdout.String()
	if !strings.Contains(lines, "live video from stdin ended") || !strings.Contains(lines, "master stopped") {
		t.Fatalf("master output:\n%s\nwant the end of stdin reported and the master stopped", lines)
	}
}

// writeLiveIVF writes frames to w as an IVF stream at 30 frames per
// second: the first ones at once, the rest once resume is closed.
func writeLiveIVF(w io.Writer, frames []media.Frame, first int, resume <-chan struct{}) error {
	iw, err := media.NewIVFWriter(w, webrtc.MimeTypeVP8)
	if err != nil {
		return err
	}
	for i, f := range frames {
		if i == first {
			<-resume
		}
		f.Timestamp = time.Duration(i) * time.Second / 30
		if err := iw.WriteFrame(f); err != nil {
			return err
		}
	}
	return nil
}

// TestCLIMasterLiveStdinInterrupted: Ctrl-C stops a master whose stdin
// is open but silent, as when the encoder stalls: the read that waits on
// stdin must not hold the master up.
func TestCLIMasterLiveStdinInterrupted(t *testing.T) {
	srv := startServer(t, serverOptions{})
	env := srv.peerEnv(t)
	master, stdin := startPeerWithStdin(t, "master", env, "master", "--channel", "stalled", "--create",
		"--interfaces", "lo", "--video", "-")
	defer stdin.Close()
	never := make(chan struct{})
	go writeLiveIVF(stdin, readFrames(t, clip("clip.ivf")), 2, never)
	master.waitLine(30*time.Second, "master on channel")
	if code := master.interrupt(); code != 0 {
		t.Fatalf("master exited with status %d after Ctrl-C", code)
	}
	master.waitLine(time.Second, "master stopped")
}
