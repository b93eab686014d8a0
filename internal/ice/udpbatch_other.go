//go:build !linux

package ice

import (
	"net"
	"net/netip"
)

// batchConn would be a UDP socket read in batches; without recvmmsg and
// sendmmsg there is none and every socket reads and writes directly.
type batchConn struct{}

// relaySender would be a socket's batched send path; there is none here.
type relaySender struct{}

// newBatchConn returns c as it is: batched reads need recvmmsg.
func newBatchConn(c net.PacketConn, _ *relays) (net.PacketConn, *batchConn) { return c, nil }

// newSender returns nil: relay sockets write directly.
func (*batchConn) newSender(net.PacketConn, *relayAlloc) *relaySender { return nil }

// relayReader returns the relay socket as it is: read and written plainly.
func (*batchConn) relayReader(conn net.PacketConn) (net.PacketConn, *relaySender) { return conn, nil }

// attach does nothing.
func (*relaySender) attach(*relayAlloc) {}

// queue never queues.
func (*relaySender) queue([]byte, netip.AddrPort) bool { return false }
