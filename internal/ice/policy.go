package ice

import (
	"net"
	"net/netip"
	"strings"
)

// Reasons a peer address is refused; they are the "reason" label of the
// refusal metric (prefixed with "peer_").
const (
	reasonInvalid       = "invalid"
	reasonUnspecified   = "unspecified"
	reasonLoopback      = "loopback"
	reasonPrivate       = "private"
	reasonSharedNAT     = "shared_nat"
	reasonLinkLocal     = "link_local"
	reasonMetadata      = "metadata"
	reasonMulticast     = "multicast"
	reasonBroadcast     = "broadcast"
	reasonReserved      = "reserved"
	reasonDocumentation = "documentation"
	reasonTranslation   = "translation"
	reasonSelf          = "self"
)

// deniedRange is one range the relay refuses by default.
type deniedRange struct {
	prefix netip.Prefix
	reason string
}

// deniedRanges are checked in order, so more specific ranges (the metadata
// addresses) come before the ranges that contain them.
var deniedRanges = func() []deniedRange {
	table := []struct{ cidr, reason string }{
		// Cloud metadata services first, so they are named as such.
		{"169.254.169.254/32", reasonMetadata},
		{"169.254.170.2/32", reasonMetadata}, // ECS task metadata
		{"fd00:ec2::254/128", reasonMetadata},
		// IPv4.
		{"0.0.0.0/8", reasonUnspecified},
		{"10.0.0.0/8", reasonPrivate},
		{"100.64.0.0/10", reasonSharedNAT}, // also Alibaba's metadata 100.100.100.200
		{"127.0.0.0/8", reasonLoopback},
		{"169.254.0.0/16", reasonLinkLocal},
		{"172.16.0.0/12", reasonPrivate},
		{"192.0.0.0/24", reasonReserved},
		{"192.0.2.0/24", reasonDocumentation},
		{"192.88.99.0/24", reasonTranslation}, // 6to4 relay anycast
		{"192.168.0.0/16", reasonPrivate},
		{"198.18.0.0/15", reasonReserved}, // benchmarking
		{"198.51.100.0/24", reasonDocumentation},
		{"203.0.113.0/24", reasonDocumentation},
		{"224.0.0.0/4", reasonMulticast},
		{"255.255.255.255/32", reasonBroadcast},
		{"240.0.0.0/4", reasonReserved},
		// IPv6.
		{"::/128", reasonUnspecified},
		{"::1/128", reasonLoopback},
		{"::/96", reasonReserved},           // IPv4-compatible (deprecated)
		{"::ffff:0:0/96", reasonReserved},   // mapped: unmapped before the check, kept as a backstop
		{"64:ff9b::/96", reasonTranslation}, // NAT64 can reach private IPv4
		{"64:ff9b:1::/48", reasonTranslation},
		{"100::/64", reasonReserved}, // discard-only
		{"2001::/32", reasonTranslation},
		{"2001:db8::/32", reasonDocumentation},
		{"2002::/16", reasonTranslation}, // 6to4 embeds an IPv4 address
		{"fc00::/7", reasonPrivate},
		{"fe80::/10", reasonLinkLocal},
		{"fec0::/10", reasonPrivate}, // site-local (deprecated)
		{"ff00::/8", reasonMulticast},
	}
	out := make([]deniedRange, len(table))
	for i, r := range table {
		out[i] = deniedRange{prefix: netip.MustParsePrefix(r.cidr), reason: r.reason}
	}
	return out
}()

// policy decides which peers the relay may reach. It is immutable once
// built, except for the live relay ports it consults through relayPorts.
type policy struct {
	allow []netip.Prefix
	// relay is the advertised relay address. Peers on the same server
	// reach each other's allocations there, so it is a valid peer even in a
	// denied range (a private relay address on a LAN deployment), on live
	// relay ports only. A loopback relay address gets no such exemption.
	relay netip.Addr
	// own are the server's own addresses (relay address, interface
	// addresses). Reaching them is allowed only on live relay ports, so a
	// peer can reach another allocation of this server but not its other
	// services.
	own map[netip.Addr]struct{}
	// isRelayPort reports whether port is a live relay port of network
	// ("udp" or "tcp").
	isRelayPort func(network string, port uint16) bool
}

// newPolicy builds a policy; allow holds CIDRs that Config.Validate
// accepted.
func newPolicy(allow []string) *policy {
	p := &policy{own: map[netip.Addr]struct{}{}, isRelayPort: func(string, uint16) bool { return false }}
	for _, cidr := range allow {
		if prefix, err := netip.ParsePrefix(strings.TrimSpace(cidr)); err == nil {
			p.allow = append(p.allow, canonicalPrefix(prefix))
		}
	}
	return p
}

// canonicalPrefix unmaps an IPv4-mapped prefix so that it matches the
// canonical (unmapped) addresses it is compared with.
func canonicalPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}

// canonicalIP turns a net.IP into a comparable address: IPv4-mapped IPv6
// becomes IPv4 and zones are dropped. ok is false for a malformed IP.
func canonicalIP(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// allowed reports whether an explicit allow-list entry covers a.
func (p *policy) allowed(a netip.Addr) bool {
	for _, prefix := range p.allow {
		if prefix.Contains(a) {
			return true
		}
	}
	return false
}

// checkIP decides on a peer IP alone (CreatePermission, ChannelBind,
// Connect). It returns "" when the peer is allowed, else the reason.
func (p *policy) checkIP(ip net.IP) string {
	a, ok := canonicalIP(ip)
	if !ok {
		return reasonInvalid
	}
	return p.checkAddr(a)
}

func (p *policy) checkAddr(a netip.Addr) string {
	if p.allowed(a) || p.isRelayAddr(a) {
		return ""
	}
	return deniedReason(a)
}

// isRelayAddr reports whether a is the (non-loopback) relay address.
func (p *policy) isRelayAddr(a netip.Addr) bool {
	return p.relay.IsValid() && a == p.relay && !a.IsLoopback()
}

// deniedReason is the reason of the first denied range holding a, or "".
func deniedReason(a netip.Addr) string {
	for _, r := range deniedRanges {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	return ""
}

// checkAddrPort decides on a full transport address, just before the relay
// sends to it or connects to it: the IP rules, then the rule that the
// server's own addresses are reachable only on live relay ports.
func (p *policy) checkAddrPort(network string, ap netip.AddrPort) string {
	a := ap.Addr().Unmap().WithZone("")
	if !a.IsValid() {
		return reasonInvalid
	}
	if reason := p.checkAddr(a); reason != "" {
		return reason
	}
	if _, own := p.own[a]; own && !p.allowed(a) && !p.isRelayPort(network, ap.Port()) {
		return reasonSelf
	}
	return ""
}

// addrPortOf extracts the transport address of a UDP or TCP net.Addr.
func addrPortOf(addr net.Addr) (netip.AddrPort, bool) {
	switch a := addr.(type) {
	case *net.UDPAddr:
		return a.AddrPort(), true
	case *net.TCPAddr:
		return a.AddrPort(), true
	}
	ap, err := netip.ParseAddrPort(addr.String())
	return ap, err == nil
}
