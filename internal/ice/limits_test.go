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
