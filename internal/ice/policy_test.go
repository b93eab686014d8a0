package ice

import (
	"net"
	"net/netip"
	"testing"
)

func TestPolicyDefaultDeny(t *testing.T) {
	p := newPolicy(nil)
	cases := []struct {
		ip     string
		reason string // "" when allowed
	}{
		// IPv4 classes.
		{"0.0.0.0", reasonUnspecified},
		{"0.1.2.3", reasonUnspecified},
		{"10.0.0.1", reasonPrivate},
		{"100.64.0.1", reasonSharedNAT},
		{"100.100.100.200", reasonSharedNAT},
		{"127.0.0.1", reasonLoopback},
		{"127.255.255.254", reasonLoopback},
		{"169.254.169.254", reasonMetadata},
		{"169.254.170.2", reasonMetadata},
		{"169.254.1.1", reasonLinkLocal},
		{"172.16.0.1", reasonPrivate},
		{"172.31.255.255", reasonPrivate},
		{"192.0.0.8", reasonReserved},
		{"192.0.2.1", reasonDocumentation},
		{"192.88.99.1", reasonTranslation},
		{"192.168.1.1", reasonPrivate},
		{"198.18.0.1", reasonReserved},
		{"198.51.100.7", reasonDocumentation},
		{"203.0.113.9", reasonDocumentation},
		{"224.0.0.251", reasonMulticast},
		{"239.255.255.250", reasonMulticast},
		{"240.0.0.1", reasonReserved},
		{"255.255.255.255", reasonBroadcast},
		// IPv6 classes.
		{"::", reasonUnspecified},
		{"::1", reasonLoopback},
		{"::127.0.0.1", reasonReserved}, // IPv4-compatible
		{"64:ff9b::10.0.0.1", reasonTranslation},
		{"64:ff9b::8.8.8.8", reasonTranslation},
		{"64:ff9b:1::1", reasonTranslation},
		{"100::1", reasonReserved},
		{"2001::1", reasonTranslation},
		{"2001:db8::1", reasonDocumentation},
		{"2002:a00:1::1", reasonTranslation},
		{"fc00::1", reasonPrivate},
		{"fd00:ec2::254", reasonMetadata},
		{"fd12:3456::1", reasonPrivate},
		{"fe80::1", reasonLinkLocal},
		{"fec0::1", reasonPrivate},
		{"ff02::1", reasonMulticast},
		// IPv4-mapped IPv6 is judged as the IPv4 address it carries.
		{"::ffff:127.0.0.1", reasonLoopback},
		{"::ffff:10.0.0.1", reasonPrivate},
		{"::ffff:169.254.169.254", reasonMetadata},
		{"::ffff:0.0.0.0", reasonUnspecified},
		{"::ffff:8.8.8.8", ""},
		// Public addresses pass.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"100.63.255.255", ""},
		{"172.32.0.1", ""},
		{"2606:4700:4700::1111", ""},
		{"2a00:1450:4007::200e", ""},
	}
	for _, tc := range cases {
		t.Run(tc.ip, func(t *testing.T) {
			ip := net.ParseIP(tc.ip)
			if ip == nil {
				t.Fatalf("bad test IP %q", tc.ip)
			}
			if got := p.checkIP(ip); got != tc.reason {
				t.Fatalf("checkIP(%s) = %q, want %q", tc.ip, got, tc.reason)
			}
			// The 16-byte form of an IPv4 address is the same address.
			if v4 := ip.To4(); v4 != nil {
				if got := p.checkIP(v4.To16()); got != tc.reason {
					t.Fatalf("16-byte form: %q, want %q", got, tc.reason)
				}
			}
		})
	}
	if got := p.checkIP(net.IP{1, 2, 3}); got != reasonInvalid {
		t.Fatalf("malformed IP: %q", got)
	}
}

func TestPolicyAllowList(t *testing.T) {
	p := newPolicy([]string{"127.0.0.0/8", "10.1.0.0/16", "::ffff:192.168.7.0/120", "fd00:1::/64", " 169.254.169.254/32 "})
	cases := []struct {
		ip      string
		allowed bool
	}{
		{"127.0.0.1", true},
		{"::ffff:127.0.0.1", true},
		{"10.1.2.3", true},
		{"10.2.0.1", false},
		{"192.168.7.9", true}, // written as a mapped prefix, applies to the IPv4 form
		{"::ffff:192.168.7.9", true},
		{"192.168.8.1", false},
		{"fd00:1::5", true},
		{"fd00:2::5", false},
		{"169.254.169.254", true}, // deliberately opened
		{"::1", false},            // an IPv4 allow-list does not open IPv6 loopback
	}
	for _, tc := range cases {
		if got := p.checkIP(net.ParseIP(tc.ip)) == ""; got != tc.allowed {
			t.Errorf("%s: allowed=%v, want %v", tc.ip, got, tc.allowed)
		}
	}
}

func TestPolicyOwnAddresses(t *testing.T) {
	p := newPolicy(nil)
	public := netip.MustParseAddr("198.51.99.10")
	p.own = map[netip.Addr]struct{}{public: {}}
	p.isRelayPort = func(network string, port uint16) bool { return network == relayUDP && port == 50000 }
	cases := []struct {
		network string
		ap      string
		reason  string
	}{
		{relayUDP, "198.51.99.10:50000", ""},         // another allocation of ours
		{relayUDP, "198.51.99.10:8443", reasonSelf},  // our HTTPS port
		{relayTCP, "198.51.99.10:50000", reasonSelf}, // not a TCP relay port
		{relayUDP, "[::ffff:198.51.99.10]:22", reasonSelf},
		{relayUDP, "198.51.99.11:22", ""},           // someone else
		{relayUDP, "10.0.0.1:50000", reasonPrivate}, // denied ranges still apply
	}
	for _, tc := range cases {
		if got := p.checkAddrPort(tc.network, netip.MustParseAddrPort(tc.ap)); got != tc.reason {
			t.Errorf("%s %s: %q, want %q", tc.network, tc.ap, got, tc.reason)
		}
	}
	allowed := newPolicy([]string{"198.51.99.10/32"})
	allowed.own = p.own
	allowed.isRelayPort = p.isRelayPort
	if got := allowed.checkAddrPort(relayUDP, netip.MustParseAddrPort("198.51.99.10:8443")); got != "" {
		t.Errorf("allow-listed own address refused: %q", got)
	}
}

// TestPolicyPrivateRelayAddress covers a LAN deployment whose relay
// address is private: peers relayed by this server reach each other's
// allocations there, and nothing else on it or beside it.
func TestPolicyPrivateRelayAddress(t *testing.T) {
	relay := netip.MustParseAddr("10.1.2.3")
	p := newPolicy(nil)
	p.relay = relay
	p.own = ownAddresses(relay, nil)
	p.isRelayPort = func(network string, port uint16) bool { return port == 50000 }
	if got := p.checkIP(net.ParseIP("10.1.2.3")); got != "" {
		t.Fatalf("CreatePermission to the relay address: %q", got)
	}
	if got := p.checkIP(net.ParseIP("::ffff:10.1.2.3")); got != "" {
		t.Fatalf("mapped relay address: %q", got)
	}
	cases := []struct{ ap, reason string }{
		{"10.1.2.3:50000", ""},
		{"10.1.2.3:22", reasonSelf},
		{"10.1.2.4:50000", reasonPrivate},
	}
	for _, tc := range cases {
		if got := p.checkAddrPort(relayUDP, netip.MustParseAddrPort(tc.ap)); got != tc.reason {
			t.Errorf("%s: %q, want %q", tc.ap, got, tc.reason)
		}
	}
	loop := newPolicy(nil)
	loop.relay = netip.MustParseAddr("127.0.0.1")
	if got := loop.checkIP(net.ParseIP("127.0.0.1")); got != reasonLoopback {
		t.Fatalf("a loopback relay address opened loopback: %q", got)
	}
}

func FuzzPolicyCanonical(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1})
	p := newPolicy(nil)
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := p.checkIP(net.IP(raw))
		if len(raw) != 4 && len(raw) != 16 {
			if got != reasonInvalid {
				t.Fatalf("%v: %q", raw, got)
			}
			return
		}
		// An IPv4 address and its mapped form are always judged alike.
		if v4 := net.IP(raw).To4(); v4 != nil {
			if other := p.checkIP(v4); other != got {
				t.Fatalf("%v: %q vs %q for %v", raw, got, other, v4)
			}
		}
	})
}
