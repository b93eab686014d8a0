package ice

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// TestCredentialRefusalsOverTURN presents bad credentials to the server:
// each is refused and counted by reason.
func TestCredentialRefusalsOverTURN(t *testing.T) {
	h := startService(t, testConfig(loopbackAllowed))
	server := h.svc.Addrs().UDP
	user, pass := h.credentials(t, testARN, "viewer")
	otherUser, _ := h.credentials(t, otherARN, "viewer")
	tampered := []byte(pass)
	tampered[0] ^= 0x20

	cases := []struct {
		name, user, pass, reason string
	}{
		{"tampered password", user, string(tampered), credBadPassword},
		{"credential for another channel", otherUser, pass, credBadPassword},
		{"not a minted username", "alice", pass, credMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.counter(t, "switchboard_turn_credential_failures_total", "reason", tc.reason)
			c := dialRawTURN(t, "udp", server, tc.user, tc.pass)
			if _, code := c.allocate(17, false); code == 0 {
				t.Fatal("allocation accepted")
			}
			if h.counter(t, "switchboard_turn_credential_failures_total", "reason", tc.reason) != before+1 {
				t.Fatalf("failure not counted as %s", tc.reason)
			}
		})
	}
	t.Run("expired credential", func(t *testing.T) {
		h.clock.Advance(301 * time.Second)
		defer h.clock.Set(0)
		c := dialRawTURN(t, "udp", server, user, pass)
		if _, code := c.allocate(17, false); code == 0 {
			t.Fatal("allocation accepted")
		}
		if h.counter(t, "switchboard_turn_credential_failures_total", "reason", credExpired) != 1 {
			t.Fatal("expiry not counted")
		}
	})
	t.Run("good credential", func(t *testing.T) {
		c := dialRawTURN(t, "udp", server, user, pass)
		if _, code := c.allocate(17, false); code != 0 {
			t.Fatalf("error %d", code)
		}
	})
}

// TestAllocationQuotas checks both quotas answer 486 Allocation Quota
// Reached, and that a freed allocation gives its slot back.
func TestAllocationQuotas(t *testing.T) {
	t.Run("per credential", func(t *testing.T) {
		h := startService(t, testConfig(func(c *Config) { c.MaxAllocationsPerCredential = 2 }))
		user, pass := h.credentials(t, testARN, "master")
		var clients []*rawTURN
		for i := range 2 {
			c := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass)
			if _, code := c.allocate(17, false); code != 0 {
				t.Fatalf("allocation %d: error %d", i+1, code)
			}
			clients = append(clients, c)
		}
		over := dialRawTURN(t, "tcp", h.svc.Addrs().TCP, user, pass)
		if _, code := over.allocate(6, false); code != int(stun.CodeAllocQuotaReached) {
			t.Fatalf("allocation over the limit: error %d, want 486", code)
		}
		// Another credential (another client of the channel) is not affected.
		user2, pass2 := h.credentials(t, testARN, "viewer")
		if _, code := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user2, pass2).allocate(17, false); code != 0 {
			t.Fatalf("other credential: error %d", code)
		}
		if code := clients[0].refresh(0); code != 0 {
			t.Fatalf("deallocate: %d", code)
		}
		waitFor(t, 5*time.Second, "the slot to be released", func() bool {
			n, _, _ := h.svc.quotas.live(mustParse(t, user))
			return n == 1
		})
		if _, code := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass).allocate(17, false); code != 0 {
			t.Fatalf("after a deallocation: error %d", code)
		}
		if h.counter(t, "switchboard_turn_refusals_total", "reason", reasonQuotaCredential) != 1 {
			t.Fatal("refusal not counted")
		}
	})
	t.Run("per channel", func(t *testing.T) {
		h := startService(t, testConfig(func(c *Config) { c.MaxAllocationsPerCredential, c.MaxAllocationsPerChannel = 0, 3 }))
		for i := range 3 {
			user, pass := h.credentials(t, testARN, "viewer-"+strings.Repeat("v", i))
			if _, code := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass).allocate(17, false); code != 0 {
				t.Fatalf("allocation %d: error %d", i+1, code)
			}
		}
		user, pass := h.credentials(t, testARN, "one-too-many")
		if _, code := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass).allocate(17, false); code != int(stun.CodeAllocQuotaReached) {
			t.Fatalf("4th allocation on the channel: error %d, want 486", code)
		}
		user, pass = h.credentials(t, otherARN, "viewer")
		if _, code := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass).allocate(17, false); code != 0 {
			t.Fatalf("other channel: error %d", code)
		}
		if h.counter(t, "switchboard_turn_refusals_total", "reason", reasonQuotaChannel) != 1 {
			t.Fatal("refusal not counted")
		}
	})
}

func mustParse(t testing.TB, username string) credential {
	t.Helper()
	c, err := parseUsername(username)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCredentialExpiryEndsAllocations lets a credential expire while its
// UDP and TCP allocations are live: both end, and relaying stops.
func TestCredentialExpiryEndsAllocations(t *testing.T) {
	h := startService(t, testConfig(loopbackAllowed, withCredentialTTL(31*time.Second)))
	user, pass := h.credentials(t, testARN, "short-lived")
	h.clock.Advance(29 * time.Second) // about two real seconds left
	peer := newUDPPeer(t, true)

	c := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass)
	if _, code := c.allocate(17, false); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	tcpRelay := dialRawTURN(t, "tcp", h.svc.Addrs().TCP, user, pass)
	if _, code := tcpRelay.allocate(6, false); code != 0 {
		t.Fatalf("allocate TCP: %d", code)
	}
	target := peerAddr{peer.addr().IP, peer.addr().Port, 1}
	if code := c.createPermission(target); code != 0 {
		t.Fatalf("permission: %d", code)
	}
	c.send(target, []byte("before expiry"))
	if data, err := c.readData(3 * time.Second); err != nil || string(data) != "before expiry" {
		t.Fatalf("relay before expiry: %q %v", data, err)
	}
	waitFor(t, 10*time.Second, "both allocations to expire", func() bool {
		return h.counter(t, "switchboard_turn_allocation_expiries_total") == 2
	})
	if got := h.counter(t, "switchboard_turn_allocations"); got != 0 {
		t.Fatalf("%v allocations still live", got)
	}
	received := peer.received.Load()
	c.send(target, []byte("after expiry"))
	if data, err := c.readData(time.Second); err == nil {
		t.Fatalf("relayed after expiry: %q", data)
	}
	if peer.received.Load() != received {
		t.Fatal("the peer received data after the credential expired")
	}
	if code := c.refresh(10 * time.Minute); code == 0 {
		t.Fatal("refresh with an expired credential succeeded")
	}
}

// TestBandwidthCap sends far more than the cap allows in a burst: the
// excess is dropped and counted.
func TestBandwidthCap(t *testing.T) {
	h := startService(t, testConfig(loopbackAllowed, func(c *Config) { c.BandwidthBitsPerSecond = 160_000 }))
	user, pass := h.credentials(t, testARN, "greedy")
	client := newPionClient(t, "udp", h.svc.Addrs().UDP, user, pass)
	relay, err := client.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	peer := newUDPPeer(t, false)
	payload := make([]byte, 1000)
	start := time.Now()
	for range 300 {
		if _, err := relay.WriteTo(payload, peer.addr()); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	time.Sleep(200 * time.Millisecond) // let the last datagrams land
	// Burst (64 KiB) plus 20 kB/s for the time spent sending, with margin.
	limit := int64(minBurstBytes) + int64(elapsed.Seconds()*20_000) + 20_000
	if got := peer.received.Load(); got > limit || got == 0 {
		t.Fatalf("peer received %d bytes in %s; cap allows about %d", got, elapsed, limit)
	}
	if h.counter(t, "switchboard_turn_refusals_total", "reason", reasonBandwidth) == 0 {
		t.Fatal("drops not counted")
	}
}
