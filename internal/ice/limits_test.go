package ice

import (
	"errors"
	"net"
	"testing"
	"time"
)

// TestTCPRelayConnectionCap fills a TCP relay with the peer connections
// turn.max_tcp_connections_per_allocation allows: one more Connect is
// refused before anything is dialled, an inbound peer is closed at once,
// and both refusals are counted under the limit's name.
func TestTCPRelayConnectionCap(t *testing.T) {
	h := startService(t, testConfig(loopbackAllowed, func(c *Config) { c.MaxTCPConnectionsPerAllocation = 2 }))
	user, pass := h.credentials(t, testARN, "many-peers")
	c := dialRawTURN(t, "tcp", h.svc.Addrs().TCP, user, pass)
	relayed, code := c.allocate(6, false)
	if code != 0 {
		t.Fatalf("TCP allocation: error %d", code)
	}
	for i := range 2 {
		echo := newTCPEcho(t).(*net.TCPAddr)
		if code := c.connect(v4(echo.IP.String(), echo.Port)); code != 0 {
			t.Fatalf("Connect %d within the cap: error %d", i+1, code)
		}
	}
	third := newTCPEcho(t).(*net.TCPAddr)
	if code := c.connect(v4(third.IP.String(), third.Port)); code == 0 {
		t.Fatal("a third Connect succeeded with a cap of 2")
	}
	if got := h.counter(t, "switchboard_turn_refusals_total", "reason", reasonTCPConnsPerAllocation); got != 1 {
		t.Fatalf("Connect refusals counted: %v, want 1", got)
	}

	// An inbound peer with a permission is refused too while the relay is full.
	if code := c.createPermission(v4("127.0.0.1", 1)); code != 0 {
		t.Fatalf("permission: %d", code)
	}
	inbound, err := net.Dial("tcp4", relayed.String())
	if err != nil {
		t.Fatal(err)
	}
	defer inbound.Close()
	_ = inbound.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := inbound.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("inbound peer over the cap kept open: read %d, %v", n, err)
	}
	waitFor(t, 5*time.Second, "the inbound refusal to be counted", func() bool {
		return h.counter(t, "switchboard_turn_refusals_total", "reason", reasonTCPConnsPerAllocation) == 2
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestPermissionCap gives allocations on UDP and TCP as many peers as
// turn.max_permissions_per_allocation allows: a permission for one more
// peer is refused (CreatePermission and ChannelBind), refreshing a granted
// one still works, another allocation is not affected, and each refusal is
// counted under the limit's name.
func TestPermissionCap(t *testing.T) {
	h := startService(t, testConfig(loopbackAllowed, func(c *Config) { c.MaxPermissionsPerAllocation = 3 }))
	user, pass := h.credentials(t, testARN, "many-peers")
	refusals := func() float64 {
		return h.counter(t, "switchboard_turn_refusals_total", "reason", reasonPermissionsPerAllocation)
	}
	for _, tc := range []struct {
		network string
		server  net.Addr
		proto   byte
	}{{"udp", h.svc.Addrs().UDP, 17}, {"tcp", h.svc.Addrs().TCP, 6}} {
		t.Run(tc.network, func(t *testing.T) {
			c := dialRawTURN(t, tc.network, tc.server, user, pass)
			if _, code := c.allocate(tc.proto, false); code != 0 {
				t.Fatalf("allocation: error %d", code)
			}
			for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
				if code := c.createPermission(v4(ip, 9)); code != 0 {
					t.Fatalf("permission for %s within the cap: error %d", ip, code)
				}
			}
			before := refusals()
			if code := c.createPermission(v4("127.0.0.4", 9)); code != 403 {
				t.Fatalf("a 4th peer with a cap of 3: error %d, want 403", code)
			}
			if got := refusals(); got != before+1 {
				t.Fatalf("refusals counted: %v, want %v", got, before+1)
			}
			if code := c.createPermission(v4("127.0.0.1", 10)); code != 0 {
				t.Fatalf("refreshing a granted permission: error %d", code)
			}
			if tc.proto == 17 {
				// pion answers a refused ChannelBind 401; the raw client
				// sent credentials, so it does not ask again.
				before = refusals()
				if code := c.channelBind(0x4000, v4("127.0.0.5", 9)); code != 401 {
					t.Fatalf("ChannelBind to a 4th peer: error %d, want 401", code)
				}
				if got := refusals(); got != before+1 {
					t.Fatalf("ChannelBind refusals counted: %v, want %v", got, before+1)
				}
				if code := c.channelBind(0x4001, v4("127.0.0.2", 9)); code != 0 {
					t.Fatalf("ChannelBind to a granted peer: error %d", code)
				}
			}
			before = refusals()
			other := dialRawTURN(t, tc.network, tc.server, user, pass)
			if _, code := other.allocate(tc.proto, false); code != 0 {
				t.Fatalf("second allocation: error %d", code)
			}
			if code := other.createPermission(v4("127.0.0.4", 9)); code != 0 {
				t.Fatalf("another allocation's first peer: error %d", code)
			}
			if got := refusals(); got != before {
				t.Fatalf("a permission within the cap was counted as refused (%v, was %v)", got, before)
			}
		})
	}
}

// TestPermissionEventsFollowPion pins the permission events that the UDP
// relay's peer set and the permission cap are built on, against pion
// v5.1.3, whose AddPermission changed: a new permission is reported
// before the CreatePermission is answered, a refreshed one is not
// reported again, and one that expires is reported gone, which frees its
// place under the cap.
func TestPermissionEventsFollowPion(t *testing.T) {
	const lifetime = time.Second
	h := startService(t, testConfig(loopbackAllowed, func(c *Config) { c.MaxPermissionsPerAllocation = 1 }),
		func(s *Service) { s.permissionTimeout = lifetime })
	user, pass := h.credentials(t, testARN, "events")
	c := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass)
	relayed, code := c.allocate(17, false)
	if code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	h.svc.relays.mu.Lock()
	alloc := h.svc.relays.udpPorts[uint16(relayed.Port)] //nolint:gosec // a UDP port
	h.svc.relays.mu.Unlock()
	peerA := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	created := func() float64 { return h.counter(t, "switchboard_turn_permissions_total") }

	if code := c.createPermission(v4("127.0.0.1", 9)); code != 0 {
		t.Fatalf("permission: %d", code)
	}
	if !alloc.hasPeerPermission(peerA) || created() != 1 {
		t.Fatalf("answered before the permission was reported: in the peer set %v, reported %v times",
			alloc.hasPeerPermission(peerA), created())
	}
	if code := c.createPermission(v4("127.0.0.1", 10)); code != 0 {
		t.Fatalf("refresh: %d", code)
	}
	if created() != 1 {
		t.Fatalf("a refreshed permission reported as new (%v in all)", created())
	}
	if code := c.createPermission(v4("127.0.0.2", 9)); code != 403 {
		t.Fatalf("a 2nd peer with a cap of 1: %d, want 403", code)
	}
	waitFor(t, 10*lifetime, "the permission to expire", func() bool { return !alloc.hasPeerPermission(peerA) })
	if code := c.createPermission(v4("127.0.0.2", 9)); code != 0 {
		t.Fatalf("a 2nd peer once the 1st expired: %d", code)
	}
}
