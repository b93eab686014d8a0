package e2e

import (
	"syscall"
	"testing"
	"time"
)

// TestCLISecondCtrlCEndsPeerAtOnce: `switchboard master` and `switchboard
// viewer` shut down gracefully at Ctrl-C, and a second Ctrl-C during a
// slow graceful shutdown ends the process at once, killed by SIGINT (a
// shell reports 130), like `switchboard serve`. The server is frozen
// (SIGSTOP) first, so the peer's signaling close handshake gets no
// answer and its graceful shutdown lasts seconds.
func TestCLISecondCtrlCEndsPeerAtOnce(t *testing.T) {
	for _, tc := range []struct {
		role, label string
		args        []string
	}{
		{"master", "MASTER", []string{"--channel", "stuck", "--create", "--interfaces", "lo", "--video", clip("clip.ivf")}},
		{"viewer", "VIEWER", []string{"--channel", "stuck", "--create", "--interfaces", "lo", "--client-id", "stuck-viewer"}},
	} {
		t.Run(tc.role, func(t *testing.T) {
			srv := startServer(t, serverOptions{})
			peer := startPeer(t, tc.role, srv.peerEnv(t), tc.role, tc.args...)
			connections := `switchboard_signaling_connections{role="` + tc.label + `"}`
			waitFor(t, 30*time.Second, tc.role+" connected", func() bool {
				return metricValue(srv.metricsText(t), connections) == 1
			})
			freeze(t, srv)

			_ = peer.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-peer.exited:
				t.Fatalf("%s ended %v after Ctrl-C, against a frozen server: no slow shutdown to cut short", tc.role, peer.cmd.ProcessState)
			case <-time.After(500 * time.Millisecond):
			}
			second := time.Now()
			_ = peer.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-peer.exited:
			case <-time.After(time.Second):
				t.Fatalf("%s still runs 1 s after a second Ctrl-C", tc.role)
			}
			ws, _ := peer.cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != syscall.SIGINT {
				t.Fatalf("%s ended %v, %v after a second Ctrl-C; want it killed by SIGINT", tc.role, peer.cmd.ProcessState, time.Since(second))
			}
		})
	}
}

// freeze stops the server process until the end of the test: the kernel
// still accepts bytes for its sockets, but nothing answers.
func freeze(t *testing.T, srv *server) {
	t.Helper()
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.cmd.Process.Signal(syscall.SIGCONT) }) // before the server's own cleanup stops it
}
