package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIRelayVideoSaved runs `switchboard master` and `switchboard
// viewer` as two processes through the server with TURN relay forced on
// both: the viewer saves 120 frames of the looping VP8 clip to an IVF
// file, which holds the clip's frames in order (sizes and bytes), and
// reports relay candidates, time to first frame and hole-punching delay.
func TestCLIRelayVideoSaved(t *testing.T) {
	srv := startRelayServer(t)
	env := srv.peerEnv(t)
	master := startPeer(t, "master", env, "master", "--channel", "relayed", "--create", "--relay-only",
		"--interfaces", "lo", "--video", clip("clip.ivf"), "--audio", clip("clip.ogg"))
	master.waitLine(30*time.Second, "master on channel")
	out := filepath.Join(t.TempDir(), "saved.ivf")
	viewer := startPeer(t, "viewer", env, "viewer", "--channel", "relayed", "--relay-only", "--interfaces", "lo",
		"--frames", "120", "--output", out, "--json", "--stats-interval", "250ms")
	if code := viewer.wait(90 * time.Second); code != 0 {
		t.Fatalf("viewer exited with status %d", code)
	}
	st := viewer.lastStats()
	if st["final"] != true || st["localCandidateType"] != "relay" || st["remoteCandidateType"] != "relay" ||
		number(st, "videoFramesReceived") < 120 || number(st, "timeToFirstFrameMs") <= 0 || number(st, "iceHolePunchingDelayMs") <= 0 {
		t.Fatalf("final stats: %v", st)
	}
	saved := readFrames(t, out)
	if len(saved) != 120 {
		t.Fatalf("saved %d frames, want 120", len(saved))
	}
	start, err := matchLoopedFrames(saved, readFrames(t, clip("clip.ivf")))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("saved frames match the clip from its frame %d; time to first frame %.0f ms, ICE hole punching %.0f ms",
		start, number(st, "timeToFirstFrameMs"), number(st, "iceHolePunchingDelayMs"))
	if code := master.interrupt(); code != 0 {
		t.Fatalf("master exited with status %d after Ctrl-C", code)
	}
}

// TestCLIFiveViewersRelay serves five viewer processes at once from one
// master, relay forced: each receives video, and as each leaves (Ctrl-C)
// the master frees its PeerConnection.
func TestCLIFiveViewersRelay(t *testing.T) {
	// The master's two Describe calls (it creates the channel) and the
	// five viewers' may come within a second, over the channel's
	// DescribeSignalingChannel burst of 5.
	srv := startRelayServer(t, noRateLimits)
	env := srv.peerEnv(t)
	master := startPeer(t, "master", env, "master", "--channel", "five", "--create", "--relay-only",
		"--interfaces", "lo", "--video", clip("clip.ivf"), "--json", "--stats-interval", "200ms")
	master.waitLine(30*time.Second, "master on channel")
	var viewers []*peerProcess
	for i := range 5 {
		viewers = append(viewers, startPeer(t, fmt.Sprintf("viewer %d", i), env, "viewer", "--channel", "five",
			"--relay-only", "--interfaces", "lo", "--json", "--stats-interval", "250ms", "--client-id", fmt.Sprintf("v%d", i)))
	}
	for _, v := range viewers {
		waitFor(t, 60*time.Second, v.name+" to receive 30 frames", func() bool {
			st := v.lastStats()
			return number(st, "videoFramesReceived") >= 30 && st["localCandidateType"] == "relay"
		})
	}
	waitPeers(t, master, 5)
	for i, v := range viewers {
		if code := v.interrupt(); code != 0 {
			t.Fatalf("%s exited with status %d after Ctrl-C", v.name, code)
		}
		waitPeers(t, master, 4-i)
	}
	if code := master.interrupt(); code != 0 {
		t.Fatalf("master exited with status %d after Ctrl-C", code)
	}
}

// waitPeers waits until the master reports n live PeerConnections.
func waitPeers(t *testing.T, master *peerProcess, n int) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("the master to hold %d peer connections", n), func() bool {
		events := master.jsonEvents("peers")
		return len(events) > 0 && int(number(events[len(events)-1], "peerConnections")) == n
	})
}

// TestCLIMasterRestart kills the master mid-stream and starts a new one:
// the viewer notices, offers a new PeerConnection to the new master and
// the video resumes, with nobody touching the viewer.
func TestCLIMasterRestart(t *testing.T) {
	srv := startRelayServer(t)
	env := srv.peerEnv(t)
	masterArgs := []string{"--channel", "restart", "--create", "--relay-only", "--interfaces", "lo", "--video", clip("clip.ivf")}
	first := startPeer(t, "first master", env, "master", masterArgs...)
	first.waitLine(30*time.Second, "master on channel")
	viewer := startPeer(t, "viewer", env, "viewer", "--channel", "restart", "--relay-only", "--interfaces", "lo",
		"--json", "--stats-interval", "250ms")
	waitFor(t, 60*time.Second, "30 frames from the first master", func() bool {
		return number(viewer.lastStats(), "videoFramesReceived") >= 30
	})
	first.kill()
	before := number(viewer.lastStats(), "videoFramesReceived")
	second := startPeer(t, "second master", env, "master", masterArgs...)
	waitFor(t, 60*time.Second, "60 more frames from the second master", func() bool {
		st := viewer.lastStats()
		return number(st, "videoFramesReceived") >= before+60 && number(st, "peerConnections") >= 2 && st["state"] == "connected"
	})
	if code := viewer.interrupt(); code != 0 {
		t.Fatalf("viewer exited with status %d after Ctrl-C", code)
	}
	if code := second.interrupt(); code != 0 {
		t.Fatalf("second master exited with status %d after Ctrl-C", code)
	}
}

// TestCLIDataChannelRoundTrip sends a message from the viewer to the
// master and the master's answer back, then ends both with Ctrl-C.
func TestCLIDataChannelRoundTrip(t *testing.T) {
	srv := startServer(t, serverOptions{})
	env := srv.peerEnv(t)
	master := startPeer(t, "master", env, "master", "--channel", "chat", "--create", "--interfaces", "lo", "--data", "pong from master")
	master.waitLine(30*time.Second, "master on channel")
	viewer := startPeer(t, "viewer", env, "viewer", "--channel", "chat", "--interfaces", "lo", "--client-id", "talker", "--data", "ping from viewer")
	master.waitLine(30*time.Second, "data from viewer talker: ping from viewer")
	viewer.waitLine(10*time.Second, "data from master: pong from master")
	if code := viewer.interrupt(); code != 0 {
		t.Fatalf("viewer exited with status %d after Ctrl-C", code)
	}
	if code := master.interrupt(); code != 0 {
		t.Fatalf("master exited with status %d after Ctrl-C", code)
	}
	master.waitLine(time.Second, "master stopped")
}

// TestCLIFriendlyErrors checks that the peer commands say what is wrong
// and what to do for the usual mistakes, with exit status 1 (2 for a
// setup problem found before connecting).
func TestCLIFriendlyErrors(t *testing.T) {
	srv := startServer(t, serverOptions{})
	env := srv.peerEnv(t)
	without := func(key string) []string {
		var out []string
		for _, kv := range env {
			if !strings.HasPrefix(kv, key+"=") {
				out = append(out, kv)
			}
		}
		return out
	}
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want []string
	}{
		{"unknown channel", env, []string{"viewer", "--channel", "missing"}, 1,
			[]string{`the channel "missing" does not exist`, "--create"}},
		{"unreachable endpoint", env, []string{"viewer", "--channel", "x", "--endpoint-url", "https://127.0.0.1:1"}, 1,
			[]string{"cannot reach https://127.0.0.1:1", "connection refused", "--endpoint-url"}},
		{"bad credentials", env, []string{"master", "--channel", "x", "--secret-access-key", "wrong", "--access-key-id", testAccessKey}, 1,
			[]string{"refused the credentials from --access-key-id and --secret-access-key", "Check the access key id and the secret"}},
		{"untrusted certificate", without("AWS_CA_BUNDLE"), []string{"viewer", "--channel", "x"}, 1,
			[]string{"is not trusted", "--ca-bundle", "AWS_CA_BUNDLE"}},
		{"no credentials", without("AWS_ACCESS_KEY_ID"), []string{"master", "--channel", "x"}, 2,
			[]string{"no AWS credentials found", "--access-key-id", "AWS_ACCESS_KEY_ID"}},
		// An --output the viewer could never write is refused before it
		// joins, not when (or if) the first video frame arrives.
		{"output name without a video extension", env, []string{"viewer", "--channel", "out", "--create", "--output", "received.txt", "--duration", "5s"}, 2,
			[]string{"--output", "received.txt", ".ivf or .h264"}},
		{"output in a missing directory", env, []string{"viewer", "--channel", "out", "--create", "--output", "/nonexistent-switchboard-dir/received.ivf", "--duration", "5s"}, 2,
			[]string{"--output", "/nonexistent-switchboard-dir", "no such file or directory"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startPeer(t, tc.name, tc.env, tc.args[0], tc.args[1:]...)
			code := p.wait(30 * time.Second)
			stderr := p.stderr.String()
			if code != tc.code {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(stderr, want) {
					t.Fatalf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if strings.Contains(stderr, "level=") || strings.Count(strings.TrimSpace(stderr), "\n") > 2 {
				t.Fatalf("want a short human message, got:\n%s", stderr)
			}
		})
	}
}

// TestCLISharedConfigProfile takes everything from the AWS shared files,
// as the AWS CLI would: keys from ~/.aws/credentials, and region,
// endpoint and CA bundle from the profile in ~/.aws/config. Reaching the
// server's "no such channel" proves each was used.
func TestCLISharedConfigProfile(t *testing.T) {
	srv := startServer(t, serverOptions{})
	home := t.TempDir()
	aws := filepath.Join(home, ".aws")
	if err := os.MkdirAll(aws, 0o700); err != nil {
		t.Fatal(err)
	}
	credentials := fmt.Sprintf("[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = wrong\n\n[cam]\naws_access_key_id = %s\naws_secret_access_key = %s\n", testAccessKey, testSecret)
	config := fmt.Sprintf("[profile cam]\nregion = %s\nendpoint_url = %s\nca_bundle = %s\n", testRegion, srv.Endpoint, srv.CAFile)
	os.WriteFile(filepath.Join(aws, "credentials"), []byte(credentials), 0o600)
	os.WriteFile(filepath.Join(aws, "config"), []byte(config), 0o600)
	var env []string
	for _, kv := range srv.peerEnv(t) {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "HOME="+home)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"--profile", env, []string{"--profile", "cam"}},
		{"AWS_PROFILE", append(env, "AWS_PROFILE=cam"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPeer(t, "viewer", tc.env, "viewer", append(tc.args, "--channel", "absent")...)
			if code := p.wait(30 * time.Second); code != 1 {
				t.Fatalf("exit status %d, want 1; stderr:\n%s", code, p.stderr)
			}
			want := fmt.Sprintf(`the channel "absent" does not exist in region %s at %s`, testRegion, srv.Endpoint)
			if !strings.Contains(p.stderr.String(), want) {
				t.Fatalf("stderr lacks %q:\n%s", want, p.stderr)
			}
		})
	}
}
