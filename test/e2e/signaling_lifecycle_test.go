package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// signalingServer starts a server with a signaling configuration section
// (YAML under "signaling:") and creates a channel.
func signalingServer(t *testing.T, section, channel string) (*server, *client.Client, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	if err := os.WriteFile(path, []byte("signaling:\n"+section), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, serverOptions{args: []string{"--config", path}})
	kvs := srv.goClient(t)
	info, err := kvs.EnsureChannel(testContext(t), channel)
	if err != nil {
		t.Fatal(err)
	}
	return srv, kvs, info.ChannelARN
}

// TestSignalingClientKeepalive: with a short server idle timeout, a client
// that pings survives while one that does not is closed for idleness (and,
// without Reconnect, stops with ErrDisconnected).
func TestSignalingClientKeepalive(t *testing.T) {
	srv, kvs, arn := signalingServer(t, "  idle_timeout: 1500ms\n", "idle")
	pinging := srv.signalingConfig(t, kvs, arn, kvsapi.RoleMaster, "")
	pinging.KeepaliveInterval = 300 * time.Millisecond
	master := connect(t, "master", pinging)
	silent := srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "silent")
	silent.KeepaliveInterval = -1
	viewer := connect(t, "silent viewer", silent)

	ev := viewer.expectState(client.StateClosed)
	if !errors.Is(ev.Err, client.ErrDisconnected) || !strings.Contains(ev.Err.Error(), "idle") {
		t.Fatalf("silent viewer stopped with %v, want an idle-timeout close", ev.Err)
	}
	master.expectQuiet(2 * time.Second) // more than the idle timeout after the viewer's end
	if master.State() != client.StateConnected {
		t.Fatalf("pinging master is %s", master.State())
	}
	late := connect(t, "late viewer", srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "late"))
	offer := rawPayload("offer", "late", "master")
	late.send(kvsapi.ActionSDPOffer, "", offer, "")
	master.expect(kvsapi.ActionSDPOffer, "late", offer)
}

// TestSignalingClientServerShutdown: on graceful shutdown the server sends
// GO_AWAY; a reconnecting client gives up after its attempt budget with
// ErrReconnectFailed instead of looping, and a plain client stops when the
// server closes the connection.
func TestSignalingClientServerShutdown(t *testing.T) {
	srv, kvs, arn := signalingServer(t, "  shutdown_drain: 1s\n", "shutdown")
	masterCfg := srv.signalingConfig(t, kvs, arn, kvsapi.RoleMaster, "")
	masterCfg.Reconnect, masterCfg.ReconnectAttempts = true, 3
	master := connect(t, "master", masterCfg)
	viewer := connect(t, "viewer", srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "viewer-1"))

	stopped := make(chan struct{})
	go func() { srv.stop(); close(stopped) }()
	t.Cleanup(func() { <-stopped })

	master.expect(kvsapi.MessageGoAway, "", "")
	master.expectState(client.StateReconnecting)
	ev := master.expectState(client.StateClosed)
	if !errors.Is(ev.Err, client.ErrReconnectFailed) || !strings.Contains(ev.Err.Error(), "after 3 attempts") {
		t.Fatalf("master stopped with %v, want ErrReconnectFailed after 3 attempts", ev.Err)
	}
	t.Logf("master: %v", ev.Err)

	viewer.expect(kvsapi.MessageGoAway, "", "")
	ev = viewer.expectState(client.StateClosed)
	if !errors.Is(ev.Err, client.ErrDisconnected) || !strings.Contains(ev.Err.Error(), "after GO_AWAY") {
		t.Fatalf("viewer stopped with %v, want ErrDisconnected after GO_AWAY", ev.Err)
	}
	t.Logf("viewer: %v", ev.Err)
}

// TestSignalingClientReconnectsAfterGoAway: when a connection reaches the
// server's maximum duration the server sends GO_AWAY and closes it; a
// client with Reconnect comes back on a fresh presigned URL and the relay
// works on the new connections.
func TestSignalingClientReconnectsAfterGoAway(t *testing.T) {
	srv, kvs, arn := signalingServer(t, "  max_connection_duration: 4s\n  go_away_grace: 1s\n", "rotating")
	masterCfg := srv.signalingConfig(t, kvs, arn, kvsapi.RoleMaster, "")
	masterCfg.Reconnect = true
	master := connect(t, "master", masterCfg)
	viewerCfg := srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "viewer-1")
	viewerCfg.Reconnect = true
	viewer := connect(t, "viewer", viewerCfg)

	for _, p := range []*peer{master, viewer} {
		p.expect(kvsapi.MessageGoAway, "", "")
		if ev := p.expectState(client.StateReconnecting); !strings.Contains(ev.Err.Error(), "maximum connection duration") {
			t.Fatalf("%s reconnecting because %v", p.name, ev.Err)
		}
		p.expectState(client.StateConnected)
	}
	exchangeOfferAndAnswer(master, viewer)
}
