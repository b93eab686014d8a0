//go:build linux

package ice

import (
	"net"
	"net/netip"
	"sync"
)

// clientRoutes belongs to one UDP listener: for each allocation made on it,
// the client's address and the queue that allocation's relay socket
// reader flushes. The listener's WriteTo finds a client's queue here.
type clientRoutes struct {
	mu sync.RWMutex
	m  map[netip.AddrPort]*relaySender
}

// lookup returns the queue of the allocation whose client is ap, or nil.
func (t *clientRoutes) lookup(ap netip.AddrPort) *relaySender {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.m[ap]
}

// add routes writes to client through s (a newer allocation of the same
// client replaces an older one).
func (t *clientRoutes) add(client netip.AddrPort, s *relaySender) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[netip.AddrPort]*relaySender)
	}
	t.m[client] = s
}

// remove forgets the route of client if it still goes through s.
func (t *clientRoutes) remove(client netip.AddrPort, s *relaySender) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[client] == s {
		delete(t.m, client)
	}
}

// newSender gives a relay socket of this listener's allocations the
// batched send path to peers; nil (plain writes) without a listener or
// for a socket that is not a UDP one.
func (c *batchConn) newSender(conn net.PacketConn, alloc *relayAlloc) *relaySender {
	if c == nil {
		return nil
	}
	return c.out.newSender(conn, alloc)
}

// relayReader wraps the relay socket of a new allocation on this listener
// so that it is read in batches, and while a batch is handed out, the
// listener's writes to the allocation's client are queued and flushed
// just before the relay socket reads again. It must be called while pion
// handles the Allocate request (from the listener's read loop), which is
// how the client's address is known. The returned sender is the client
// queue, nil when there is none; attach gives it its allocation.
func (c *batchConn) relayReader(conn net.PacketConn) (net.PacketConn, *relaySender) {
	uc, ok := conn.(*net.UDPConn)
	if c == nil || !ok {
		return conn, nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return conn, nil
	}
	out := newClientBatch(c.out.r)
	reader := newBatchReader(uc, raw, out, relayRecvStart)
	src := c.src.Load()
	if src == nil {
		return reader, nil
	}
	toClient := out.newSender(c.conn, nil)
	if toClient == nil {
		return reader, nil
	}
	client := src.AddrPort()
	c.clients.add(client, toClient)
	reader.onClose = func() { c.clients.remove(client, toClient) }
	return reader, toClient
}

// attach names the allocation a client queue belongs to (for its log
// lines); called before the allocation relays anything.
func (s *relaySender) attach(alloc *relayAlloc) {
	if s != nil {
		s.alloc = alloc
	}
}
