//go:build unix

package ice

import (
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"golang.org/x/sys/unix"
)

// TestUnpermittedPeerTrafficIsNotRelayedOrCharged floods an allocation's
// relay port from a peer that has no permission: pion drops every one of
// those datagrams, so none of them may count as relayed, and none may use
// the allocation's bandwidth budget. A peer that then gets a permission
// must be relayed within its own (untouched) burst.
func TestUnpermittedPeerTrafficIsNotRelayedOrCharged(t *testing.T) {
	// 8 kb/s: 1000 bytes a second, with the minimum burst of 64 KiB.
	h := startService(t, testConfig(loopbackAllowed, func(c *Config) { c.BandwidthBitsPerSecond = 8000 }))
	user, pass := h.credentials(t, testARN, "victim")
	c := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass)
	relayed, code := c.allocate(17, false)
	if code != 0 {
		t.Fatalf("allocate: %d", code)
	}

	// A stranger (no permission yet) sprays the relay port.
	stranger, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: relayed.Port})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	junk := make([]byte, 1000)
	for range 100 {
		if _, err := stranger.Write(junk); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // let the relay read them all
	if got := h.counter(t, "switchboard_turn_relayed_bytes_total", "direction", fromPeer); got != 0 {
		t.Errorf("%v bytes counted as relayed from peers, though no peer had a permission", got)
	}

	// Now a real peer gets a permission and sends 10 small datagrams,
	// 5000 bytes in all: far below the 64 KiB burst.
	peer := newUDPPeer(t, false)
	if code := c.createPermission(v4("127.0.0.1", peer.addr().Port)); code != 0 {
		t.Fatalf("permission: %d", code)
	}
	payload := make([]byte, 500)
	for range 10 {
		if _, err := peer.conn.WriteToUDP(payload, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: relayed.Port}); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	for range 10 {
		if _, err := c.readData(time.Second); err != nil {
			break
		}
		got++
	}
	if got != 10 {
		t.Fatalf("client got %d of the permitted peer's 10 datagrams: the stranger's dropped traffic used up the allocation's bandwidth budget", got)
	}
}

// blackholeTCP returns a loopback TCP address whose accept queue is full,
// so that a further connection attempt hangs (its SYNs are dropped) instead
// of being refused.
func blackholeTCP(t *testing.T) *net.TCPAddr {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port}
	// Fill the accept queue; nothing ever accepts.
	for range 3 {
		d := net.Dialer{Timeout: 300 * time.Millisecond}
		if c, err := d.Dial("tcp4", addr.String()); err == nil {
			t.Cleanup(func() { _ = c.Close() })
		}
	}
	d := net.Dialer{Timeout: 300 * time.Millisecond}
	if c, err := d.Dial("tcp4", addr.String()); err == nil {
		_ = c.Close()
		t.Skip("could not fill a loopback accept queue")
	}
	return addr
}

// TestConnectOverUDPDoesNotStallTheListener: RFC 6062 TCP allocations are
// for clients on TCP or TLS (RFC 6062 5.1: a TCP Allocate over UDP gets
// 400). Here a client over UDP gets one anyway and sends Connect to a peer
// that does not answer: the relay dials it from the UDP listener's one read
// loop, which then serves no other client until the dial times out.
func TestConnectOverUDPDoesNotStallTheListener(t *testing.T) {
	h := startService(t, testConfig(loopbackAllowed, func(c *Config) { c.UDPListeners = 1 }))
	server := h.svc.Addrs().UDP
	user, pass := h.credentials(t, testARN, "staller")
	c := dialRawTURN(t, "udp", server, user, pass)
	if _, code := c.allocate(6, false); code != 0 {
		return // refused, as RFC 6062 asks: nothing can stall
	}
	t.Errorf("a TCP allocation was granted to a client over UDP")
	hole := blackholeTCP(t)
	if code := c.createPermission(v4("127.0.0.1", hole.Port)); code != 0 {
		t.Fatalf("permission: %d", code)
	}
	// Connect, without waiting for the answer.
	connect := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodConnect, stun.ClassRequest),
		v4("127.0.0.1", hole.Port), stun.NewUsername(c.username), stun.NewRealm(c.realm), stun.NewNonce(c.nonce),
		c.integrity, stun.Fingerprint)
	c.write(connect.Raw)
	time.Sleep(200 * time.Millisecond)

	// Another client of the same listener asks for its mapped address.
	other, err := net.Dial("udp", server.String())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	binding := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if _, err := other.Write(binding.Raw); err != nil {
		t.Fatal(err)
	}
	_ = other.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := other.Read(make([]byte, 1500)); err != nil {
		t.Fatalf("Binding request of another client unanswered while one Connect dials: %v", err)
	}
}

// TestAllocateOverIPv6WithoutFamilyGetsTheIPv4Relay: a client that reaches
// the TURN listener over IPv6 (the default listeners ":3478" are dual-stack)
// and sends a plain Allocate, without REQUESTED-ADDRESS-FAMILY, must get an
// IPv4 relayed address (RFC 6156 4.2 / RFC 8656 7.2: IPv4 is the default).
// The server has an IPv4 relay address, yet refuses.
func TestAllocateOverIPv6WithoutFamilyGetsTheIPv4Relay(t *testing.T) {
	h := startService(t, testConfig(loopbackAllowed, func(c *Config) {
		c.UDPAddr, c.TCPAddr, c.TLSAddr = "[::1]:0", "[::1]:0", ""
	}))
	if !h.svc.RelayIP().Is4() {
		t.Fatalf("relay address %s, want the configured IPv4 one", h.svc.RelayIP())
	}
	user, pass := h.credentials(t, testARN, "v6-client")
	for _, tc := range []struct {
		network string
		server  net.Addr
	}{{"udp", h.svc.Addrs().UDP}, {"tcp", h.svc.Addrs().TCP}} {
		c := dialRawTURN(t, tc.network, tc.server, user, pass)
		relayed, code := c.allocate(17, false)
		if code != 0 {
			t.Errorf("%s over IPv6: Allocate without REQUESTED-ADDRESS-FAMILY refused with %d, want an IPv4 relayed address", tc.network, code)
			continue
		}
		if relayed.IP.To4() == nil {
			t.Errorf("%s: relayed address %v is not IPv4", tc.network, relayed)
		}
	}
}

// TestClosedAllocationLeavesANewerOneItsPort: a relay port is free once
// the old allocation's socket closes, so a new allocation may hold it by
// the time the old one forgets it. The old one must not take the new
// one's entry with it: the port would stop being a live relay port, and
// the new allocation's permissions could not be found by its port.
func TestClosedAllocationLeavesANewerOneItsPort(t *testing.T) {
	for _, relay := range []string{relayUDP, relayTCP} {
		r := &relays{udpPorts: map[uint16]*relayAlloc{}, tcpPorts: map[uint16]*relayAlloc{}}
		old := &relayAlloc{r: r, relay: relay, port: 50000}
		newer := &relayAlloc{r: r, relay: relay, port: 50000}
		ports := r.udpPorts
		if relay == relayTCP {
			ports = r.tcpPorts
		}
		ports[50000] = newer
		r.forgetPort(old)
		if !r.isRelayPort(relay, 50000) || ports[50000] != newer {
			t.Errorf("%s: the closed allocation removed the port its successor holds", relay)
		}
		r.forgetPort(newer)
		if r.isRelayPort(relay, 50000) {
			t.Errorf("%s: a closed allocation's own port is still live", relay)
		}
	}
}
