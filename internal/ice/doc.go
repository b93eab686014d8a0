// Package ice owns Switchboard's STUN/TURN side: the embedded relay built on
// pion/turn (UDP, TCP and TLS listeners, optionally TURN on the HTTPS port),
// the short-lived TURN REST credentials handed out by GetIceServerConfig and
// the rotating keys that sign them (keyring.go), and the rules that keep the
// relay from being abused.
//
// The relay must never be an open proxy into the network it runs in. Every
// peer address is canonicalised (IPv4-mapped IPv6 is unmapped) and checked
// against a deny list (loopback, private, link-local, cloud metadata,
// multicast, reserved and tunnelling ranges) on every path that can reach a
// peer: CreatePermission, ChannelBind, Send and ChannelData (through the
// permissions), RFC 6062 Connect, inbound TCP peers, and once more on the
// relay socket itself before any byte leaves it. Only an explicit allow-list
// (allow_peers) opens a denied range. Allocations are limited per credential
// (one client of one channel), per channel and per account, each has a
// bandwidth cap, and each ends when its credential expires. TURN client
// connections over TCP, TLS and the HTTPS port are capped in total and per
// client address.
//
// The package does not know about HTTP routing, WebSocket signaling or the
// configuration loader: the composition root gives it its Config section and
// its dependencies (Deps), and consumes it through IceServers (the
// controlplane's IceServerProvider) and SplitTURN.
package ice
