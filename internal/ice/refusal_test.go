package ice

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/switchboard-rtc/switchboard/internal/ice/icetest"
)

// deniedPeers are the addresses the issue names, as an attacker would
// encode them (the mapped address as an IPv6 XOR-PEER-ADDRESS).
var deniedPeers = []struct {
	name   string
	peer   peerAddr
	reason string
}{
	{"127.0.0.1", v4("127.0.0.1", 9), "peer_loopback"},
	{"10.0.0.1", v4("10.0.0.1", 9), "peer_private"},
	{"169.254.169.254", v4("169.254.169.254", 80), "peer_metadata"},
	{"::ffff:127.0.0.1", v6("::ffff:127.0.0.1", 9), "peer_loopback"},
}

// TestDefaultPolicyRefusesOverUDPAndTCP drives the refusal path with a
// hand-written TURN client over both client transports and both relay
// transports. Every refusal happens at CreatePermission, ChannelBind or
// Connect, before the relay could send anything; the relayed-bytes counter
// proves nothing left.
func TestDefaultPolicyRefusesOverUDPAndTCP(t *testing.T) {
	h := startService(t, testConfig())
	addrs := h.svc.Addrs()
	user, pass := h.credentials(t, testARN, "attacker")
	for _, transport := range []struct {
		network string
		server  net.Addr
	}{{"udp", addrs.UDP}, {"tcp", addrs.TCP}} {
		t.Run(transport.network, func(t *testing.T) {
			udpRelay := dialRawTURN(t, transport.network, transport.server, user, pass)
			if _, code := udpRelay.allocate(17, false); code != 0 {
				t.Fatalf("UDP allocation: error %d", code)
			}
			for _, d := range deniedPeers {
				if code := udpRelay.createPermission(d.peer); code != 403 {
					t.Errorf("CreatePermission %s: got %d, want 403", d.name, code)
				}
				if code := udpRelay.channelBind(0x4001, d.peer); code == 0 {
					t.Errorf("ChannelBind %s succeeded", d.name)
				}
				udpRelay.send(d.peer, []byte("must not leave"))
			}
			// ::1 cannot even be named on an IPv4 allocation.
			if code := udpRelay.createPermission(v6("::1", 9)); code != 443 {
				t.Errorf("CreatePermission ::1 on an IPv4 allocation: %d, want 443", code)
			}
			if code := udpRelay.channelBind(0x4002, v6("::1", 9)); code != 443 {
				t.Errorf("ChannelBind ::1 on an IPv4 allocation: %d, want 443", code)
			}
			if transport.network != "tcp" {
				return
			}
			tcpRelay := dialRawTURN(t, "tcp", transport.server, user, pass)
			if _, code := tcpRelay.allocate(6, false); code != 0 {
				t.Fatalf("TCP allocation: error %d", code)
			}
			for _, d := range deniedPeers {
				if code := tcpRelay.connect(d.peer); code != 403 {
					t.Errorf("Connect %s: got %d, want 403", d.name, code)
				}
			}
		})
	}
	for _, d := range deniedPeers {
		if got := h.counter(t, "switchboard_turn_refusals_total", "reason", d.reason); got == 0 {
			t.Errorf("no refusal counted for %s (%s)", d.name, d.reason)
		}
	}
	for _, reason := range []string{"peer_no_permission", "peer_family_mismatch"} {
		if got := h.counter(t, "switchboard_turn_refusals_total", "reason", reason); got == 0 {
			t.Errorf("no refusal counted as %s", reason)
		}
	}
	if sent := h.counter(t, "switchboard_turn_relayed_bytes_total", "direction", toPeer); sent != 0 {
		t.Fatalf("%v bytes relayed to denied peers", sent)
	}
}

// TestPionRefusalReasons pins the texts pionRefusals looks for in pion's
// errors (pion v5.1.3), one refusal at a time on one UDP client, whose
// requests one pion read loop handles in order: each step must move its
// own reason by exactly one and the other not at all. A username is the
// client's own text, which pion puts into the error of a refused one; it
// must not count as a refusal it names.
func TestPionRefusalReasons(t *testing.T) {
	h := startService(t, testConfig(loopbackAllowed))
	user, pass := h.credentials(t, testARN, "refused")
	c := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass)
	if _, code := c.allocate(17, false); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	peer := v4("127.0.0.1", newUDPPeer(t, false).addr().Port)
	const noPermission, mismatch = "peer_no_permission", "peer_family_mismatch"
	count := func(reason string) float64 {
		return h.counter(t, "switchboard_turn_refusals_total", "reason", reason)
	}
	for _, step := range []struct {
		name, reason string
		do           func()
	}{
		{"a Send to a peer without a permission", noPermission, func() { c.send(peer, []byte("x")) }},
		// v5.1.3 checks the permission before the family, and no peer of
		// the other family can have one.
		{"a Send to a peer of the other family", noPermission, func() { c.send(v6("::1", 9), []byte("x")) }},
		{"a ChannelBind to a peer of the other family", mismatch, func() {
			if code := c.channelBind(0x4001, v6("::1", 9)); code != 443 {
				t.Fatalf("ChannelBind: %d, want 443", code)
			}
		}},
		{"an unknown username naming both refusals, then a Send without a permission", noPermission, func() {
			liar := &rawTURN{t: t, conn: c.conn, username: "no permission; peer address family does not match", password: "x"}
			if _, code := liar.allocate(17, false); code != 401 {
				t.Fatalf("Allocate with an unknown username: %d, want 401", code)
			}
			c.send(peer, []byte("x"))
		}},
	} {
		before := map[string]float64{noPermission: count(noPermission), mismatch: count(mismatch)}
		step.do()
		waitFor(t, 5*time.Second, step.name+" to be counted", func() bool { return count(step.reason) > before[step.reason] })
		for reason, was := range before {
			want := was
			if reason == step.reason {
				want++
			}
			if got := count(reason); got != want {
				t.Errorf("%s: %s counted %v, want %v", step.name, reason, got, want)
			}
		}
	}
}

// TestDefaultPolicyRefusesIPv6Loopback uses an IPv6 relay, where ::1 is a
// peer of the right family, so the policy (not the family check) refuses.
func TestDefaultPolicyRefusesIPv6Loopback(t *testing.T) {
	h := startService(t, testConfig(func(c *Config) {
		c.UDPAddr, c.TCPAddr, c.TLSAddr, c.RelayIP = "[::1]:0", "[::1]:0", "", "::1"
	}), func(d *Deps) { d.PublicHost = "[::1]:8443" })
	addrs := h.svc.Addrs()
	user, pass := h.credentials(t, testARN, "attacker")
	for _, network := range []string{"udp", "tcp"} {
		server := addrs.UDP
		if network == "tcp" {
			server = addrs.TCP
		}
		c := dialRawTURN(t, network, server, user, pass)
		relayed, code := c.allocate(17, true)
		if code != 0 || relayed.IP.To4() != nil {
			t.Fatalf("%s: IPv6 allocation: error %d, relayed %v", network, code, relayed)
		}
		for _, peer := range []peerAddr{v6("::1", 9), v6("::", 9), v6("fe80::1", 9), v6("fd00:ec2::254", 80)} {
			if code := c.createPermission(peer); code != 403 {
				t.Errorf("%s: CreatePermission %v: %d, want 403", network, peer.ip, code)
			}
		}
		if network == "tcp" {
			tc := dialRawTURN(t, "tcp", server, user, pass)
			if _, code := tc.allocate(6, true); code != 0 {
				t.Fatalf("IPv6 TCP allocation: %d", code)
			}
			if code := tc.connect(v6("::1", 9)); code != 403 {
				t.Errorf("Connect ::1: %d, want 403", code)
			}
		}
	}
	if got := h.counter(t, "switchboard_turn_refusals_total", "reason", "peer_loopback"); got < 3 {
		t.Fatalf("loopback refusals counted: %v", got)
	}
}

// TestRelayGuardNeverSends checks the last line of defence on its own: even
// if a permission slipped through, the relay socket refuses to send to a
// denied address, and a Connect is refused before any dial.
func TestRelayGuardNeverSends(t *testing.T) {
	h := startService(t, testConfig())
	r := h.svc.relays
	a := &allocator{relays: r, transport: transportUDP}
	user, _ := h.credentials(t, testARN, "guard")
	pc, _, err := a.AllocatePacketConn(turn.AllocateListenerConfig{Network: "udp4", UserID: user})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingPacketConn{PacketConn: pc.(*relayPacketConn).PacketConn}
	pc.(*relayPacketConn).PacketConn = rec
	for _, dst := range []string{"10.0.0.1:9", "169.254.169.254:80", "127.0.0.1:9", "[::ffff:127.0.0.1]:9", "[::1]:9", "0.0.0.0:9"} {
		addr, _ := net.ResolveUDPAddr("udp", dst)
		if _, err := pc.WriteTo([]byte("x"), addr); !errors.Is(err, ErrPeerRefused) {
			t.Errorf("WriteTo %s: %v", dst, err)
		}
	}
	if rec.writes != 0 {
		t.Fatalf("%d datagrams reached the socket", rec.writes)
	}
	_ = pc.Close()
	_, _, _ = pc.ReadFrom(make([]byte, 10)) // as pion's relay reader would, ending it

	ta := &allocator{relays: r, transport: transportTCP}
	ln, relayed, err := ta.AllocateListener(turn.AllocateListenerConfig{Network: "tcp4", UserID: user})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = ln.Close()
		_, _ = ln.Accept() // as pion's relay acceptor would, ending it
	}()
	start := time.Now()
	for _, dst := range []string{"10.0.0.1:80", "169.254.169.254:80", "[::ffff:127.0.0.1]:22"} {
		remote, _ := net.ResolveTCPAddr("tcp", dst)
		if _, err := ta.AllocateConn(turn.AllocateConnConfig{Network: "tcp4", UserID: user, LocalAddr: relayed, RemoteAddr: remote}); !errors.Is(err, ErrPeerRefused) {
			t.Errorf("AllocateConn %s: %v", dst, err)
		}
	}
	if time.Since(start) > time.Second {
		t.Fatal("refusal took long enough to have dialled")
	}
}

type recordingPacketConn struct {
	net.PacketConn
	writes int
}

func (r *recordingPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	r.writes++
	return r.PacketConn.WriteTo(p, addr)
}

// TestAllowListOpensLoopback relays through pion's own TURN client to
// loopback peers once 127.0.0.0/8 is allow-listed: UDP (Send and
// ChannelData) and TCP (RFC 6062 Connect).
func TestAllowListOpensLoopback(t *testing.T) {
	h := startService(t, testConfig(loopbackAllowed))
	user, pass := h.credentials(t, testARN, "tester")

	client := newPionClient(t, "udp", h.svc.Addrs().UDP, user, pass)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	peer := newUDPPeer(t, true)
	for i := range 5 { // the first datagrams travel as Send, later ones as ChannelData
		msg := []byte("ping " + strings.Repeat("x", i))
		if _, err := relay.WriteTo(msg, peer.addr()); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		_ = relay.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := relay.ReadFrom(buf)
		if err != nil || string(buf[:n]) != string(msg) || from.String() != peer.addr().String() {
			t.Fatalf("echo %d: %q from %v, %v", i, buf[:n], from, err)
		}
	}

	echo := newTCPEcho(t)
	tcpClient := newPionClient(t, "tcp", h.svc.Addrs().TCP, user, pass)
	alloc, err := tcpClient.AllocateTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer alloc.Close()
	conn, err := alloc.Dial("tcp", echo.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("hello over TCP relay")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "hello over TCP relay" {
		t.Fatalf("TCP echo %q: %v", buf[:n], err)
	}
	// The TCP relay counts the bytes it sent a peer after its write
	// returns, so the echo can reach the client before the count moves.
	waitFor(t, 5*time.Second, "relay metrics to move", func() bool {
		return h.counter(t, "switchboard_turn_relayed_bytes_total", "relay", relayTCP, "direction", toPeer) > 0 &&
			h.counter(t, "switchboard_turn_relayed_packets_total", "relay", relayUDP, "direction", fromPeer) > 0 &&
			h.counter(t, "switchboard_turn_permissions_total") > 0 &&
			h.counter(t, "switchboard_turn_allocations", "relay", relayTCP) == 1
	})
}

// newPionClient starts a pion TURN client over UDP or TCP.
func newPionClient(t testing.TB, network string, server net.Addr, user, pass string) *turn.Client {
	t.Helper()
	return icetest.TURNClient(t, network, server.String(), nil, user, pass, pionLoggers{log: testLogger(t)})
}

// newTCPEcho is a loopback TCP echo server.
func newTCPEcho(t testing.TB) net.Addr {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr()
}
