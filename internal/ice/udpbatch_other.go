//go:build !linux

package ice

import (
	"net"
	"net/netip"
)

// sendBatch would queue relay writes for a batched flush; without
// recvmmsg and sendmmsg there is none and relay sockets write directly.
type sendBatch struct{}

// relaySender would be a relay socket's batched send path; there is none
// here.
type relaySender struct{}

// newBatchConn returns c as it is: batched reads need recvmmsg.
func newBatchConn(c net.PacketConn, _ *relays) (net.PacketConn, *sendBatch) { return c, nil }

// newSender returns nil: relay sockets write directly.
func (*sendBatch) newSender(net.PacketConn, *relayAlloc) *relaySender { return nil }

// queue never queues.
func (*relaySender) queue([]byte, netip.AddrPort) bool { return false }
