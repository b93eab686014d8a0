// Package bench is `switchboard bench`: reproducible load scenarios that
// measure the server against a baseline in the same run, on the same
// machine, driven by the same load generator.
//
// Scenarios:
//
//   - connections: hold N presigned, SigV4-verified TLS WebSocket
//     connections; report the server's resident memory per connection,
//     the connect rate and the handshake latency.
//   - relay: viewers send ICE-candidate-sized and SDP-sized messages to
//     their masters at stepped offered rates up to saturation; report the
//     delivered rate and end-to-end latency per step, against a bare
//     WebSocket forwarder (the server's WebSocket library, gobwas/ws; no
//     auth, no routing).
//   - turn: relayed packets per second through the embedded TURN server
//     against Debian's coturn, at 200 and 1,200-byte packets.
//   - controlplane: DescribeSignalingChannel and CreateSignalingChannel per
//     second with concurrent SigV4-signed clients.
//   - ttff: time to first frame and ICE hole-punching delay of a master and
//     a viewer with relay forced.
//
// The package owns the scenarios, the processes they start (the server
// under test is a child process of the same binary, so that its memory and
// CPU are measured alone; the baselines are child processes too) and the
// reports (a table, JSON and PNG plots). Everything it starts listens and
// sends on loopback addresses only, every loop is bounded in count and
// time, and every child process is killed by its PID when a scenario ends.
//
// It talks to the server only through public surfaces: the client SDK for
// the control plane and the media peers, the sigv4 package and gobwas/ws's
// frame codec for the lean connection generator (wsgen.go), pion's TURN
// client for relays, and /metrics. It must not import the server's
// internals.
package bench
