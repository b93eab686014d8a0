package ice

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// relayAlloc is one allocation as the relay side sees it: its credential,
// its bandwidth buckets, its quota slot and the timer that ends it when the
// credential expires or its key retires. Its socket (UDP) or listener (TCP)
// and the TCP peer connections it made or accepted are closed together,
// once.
type relayAlloc struct {
	r      *relays
	owner  *allocator // the allocator of the listener the client is on
	cred   credential
	relay  string // relayUDP or relayTCP
	port   uint16
	gauge  prometheus.Gauge
	out    *rate.Limiter // client to peer
	in     *rate.Limiter // peer to client
	ctx    context.Context
	cancel context.CancelFunc

	release     func()
	closeSocket func() error
	timer       *time.Timer
	readerDone  func()
	closeOnce   sync.Once
	dropLogged  atomic.Bool
	lastAllowed atomic.Pointer[netip.AddrPort]
	// peers are the IP addresses the client has a permission for (UDP
	// relays), replaced whole on each change: the read path only loads.
	peers atomic.Pointer[map[netip.Addr]struct{}]

	// clientKey is the allocation's entry in relays.byClient (guarded by
	// relays.mu).
	clientKey clientKey

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// newAlloc records an allocation whose socket is open, and arms its expiry.
func (a *allocator) newAlloc(cred credential, relay string, port uint16, release func(), closeSocket func() error) *relayAlloc {
	a.metrics.allocated.WithLabelValues(a.transport, relay).Inc()
	gauge := a.metrics.allocations.WithLabelValues(a.transport, relay)
	gauge.Inc()
	ctx, cancel := context.WithCancel(context.Background())
	alloc := &relayAlloc{
		r: a.relays, owner: a, cred: cred, relay: relay, port: port, gauge: gauge,
		out: newBandwidthLimiter(a.bandwidth), in: newBandwidthLimiter(a.bandwidth),
		ctx: ctx, cancel: cancel, release: release, closeSocket: closeSocket,
		readerDone: a.track.start(), conns: map[net.Conn]struct{}{},
	}
	// Armed in two steps so that the field is set before the timer can fire.
	alloc.timer = time.AfterFunc(time.Hour, alloc.expire)
	alloc.timer.Reset(a.validUntil(cred).Sub(a.now()))
	a.log.Debug("turn: allocation opened", "user", cred.Username, "transport", a.transport, "relay", relay, "port", port)
	return alloc
}

// expire ends an allocation whose credential has expired or whose key has
// retired: closing the socket makes pion delete the allocation, and
// nothing more is relayed.
func (a *relayAlloc) expire() {
	a.r.metrics.expiries.Inc()
	a.r.log.Debug("turn: allocation ended: credential expired or its key retired", "user", a.cred.Username, "relay", a.relay, "port", a.port)
	_ = a.close()
}

// close releases everything the allocation holds; later calls do nothing.
func (a *relayAlloc) close() error {
	var err error
	a.closeOnce.Do(func() {
		a.timer.Stop()
		a.cancel()
		err = a.closeSocket()
		a.mu.Lock()
		conns := a.conns
		a.conns = nil
		a.mu.Unlock()
		for c := range conns {
			_ = c.Close()
		}
		a.r.forgetPort(a)
		a.release()
		a.gauge.Dec()
	})
	return err
}

// permitted checks a destination just before the relay sends to it or
// connects to it. The last allowed destination that is not one of our own
// addresses is remembered, so steady traffic to one peer costs one compare.
func (a *relayAlloc) permitted(network string, ap netip.AddrPort) bool {
	if last := a.lastAllowed.Load(); last != nil && *last == ap {
		return true
	}
	if reason := a.r.policy.checkAddrPort(network, ap); reason != "" {
		a.r.refuse("peer_"+reason, "user", a.cred.Username, "peer", ap.String())
		return false
	}
	if _, own := a.r.policy.own[ap.Addr().Unmap()]; !own {
		last := ap // a copy, so that ap itself does not escape on every call
		a.lastAllowed.Store(&last)
	}
	return true
}

// setPeerPermission adds peer to, or removes it from, the peers whose
// datagrams the relay passes on. Permissions change a few times per
// allocation, so the set is copied on each change.
func (a *relayAlloc) setPeerPermission(peer netip.Addr, on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	next := map[netip.Addr]struct{}{}
	if cur := a.peers.Load(); cur != nil {
		for ip := range *cur {
			next[ip] = struct{}{}
		}
	}
	if on {
		next[peer] = struct{}{}
	} else {
		delete(next, peer)
	}
	a.peers.Store(&next)
}

// roomForPeer reports whether a permission for peer fits: the allocation
// has one for it already, or holds fewer than the cap.
func (a *relayAlloc) roomForPeer(peer net.IP) bool {
	ip, ok := canonicalIP(peer)
	if !ok {
		return false
	}
	peers := a.peers.Load()
	if peers == nil {
		return true
	}
	if _, ok := (*peers)[ip]; ok {
		return true
	}
	return a.r.permissionsPerAlloc == 0 || len(*peers) < a.r.permissionsPerAlloc
}

// hasPeerPermission reports whether the client has a permission for the
// peer at addr.
func (a *relayAlloc) hasPeerPermission(addr net.Addr) bool {
	peers := a.peers.Load()
	if peers == nil {
		return false
	}
	ap, ok := addrPortOf(addr)
	if !ok {
		return false
	}
	_, ok = (*peers)[ap.Addr().Unmap()]
	return ok
}

// dropped counts a datagram dropped over the bandwidth cap; the first drop
// of an allocation is logged.
func (a *relayAlloc) dropped(direction string) {
	a.r.bandwidthCut.Inc()
	if a.dropLogged.CompareAndSwap(false, true) {
		a.r.log.Debug("turn: refused", "reason", reasonBandwidth, "user", a.cred.Username, "direction", direction,
			"cap_bits_per_second", a.r.bandwidth)
	}
}

// relayPacketConn is a UDP relay socket: it checks every destination,
// applies the bandwidth cap and counts traffic, per datagram, in both
// directions. With a sender, datagrams to peers may be queued and sent in
// a batch by the listener's reader; on Linux the socket itself is read in
// batches (a batchConn), whose reader flushes the datagrams pion wrote to
// the client meanwhile.
type relayPacketConn struct {
	net.PacketConn
	alloc  *relayAlloc
	sender *relaySender // nil: every datagram is written at once
}

// WriteTo sends a datagram to a peer, if the policy allows that peer. A
// datagram accepted into the listener's batch counts as written; it is
// counted as relayed (or as a send error) when the batch is flushed.
func (c *relayPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ap, ok := addrPortOf(addr)
	if !ok || !c.alloc.permitted(relayUDP, ap) {
		return 0, fmt.Errorf("%w: %v", ErrPeerRefused, addr)
	}
	if c.alloc.out != nil && !c.alloc.out.AllowN(time.Now(), len(p)) {
		c.alloc.dropped(toPeer)
		return len(p), nil
	}
	if c.sender.queue(p, ap) {
		return len(p), nil
	}
	n, err := c.PacketConn.WriteTo(p, addr)
	if n > 0 {
		c.alloc.r.flows.udpOut.add(n)
	}
	if err != nil {
		c.alloc.r.sendErrors.Inc()
	}
	return n, err
}

// ReadFrom receives the next datagram from a peer the client has a
// permission for, within the bandwidth cap. A datagram from any other
// source is dropped here, as pion would drop it, before it is charged
// against the cap or counted as relayed: a stranger spraying the relay
// port must not use up the real peer's budget.
func (c *relayPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			c.alloc.readerDone()
			return n, addr, err
		}
		if !c.alloc.hasPeerPermission(addr) {
			continue
		}
		if c.alloc.in != nil && !c.alloc.in.AllowN(time.Now(), n) {
			c.alloc.dropped(fromPeer)
			continue
		}
		c.alloc.r.flows.udpIn.add(n)
		return n, addr, nil
	}
}

// Close ends the allocation.
func (c *relayPacketConn) Close() error { return c.alloc.close() }

// relayListener is a TCP relay listener: inbound peers are checked against
// the policy before pion sees them.
type relayListener struct {
	net.Listener
	alloc *relayAlloc
}

// Accept returns the next inbound peer connection the policy allows.
func (l *relayListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			l.alloc.readerDone()
			return nil, err
		}
		ap, ok := addrPortOf(conn.RemoteAddr())
		if !ok || !l.alloc.permitted(relayTCP, ap) {
			_ = conn.Close()
			continue
		}
		wrapped, ok := l.alloc.wrapConn(conn)
		if !ok {
			l.alloc.r.refuseConnOverCap(l.alloc, ap.String(), "inbound")
			continue
		}
		return wrapped, nil
	}
}

// Close ends the allocation.
func (l *relayListener) Close() error { return l.alloc.close() }

// wrapConn registers a peer connection of a TCP allocation; it is closed
// with the allocation. When the allocation already holds as many peer
// connections as turn.max_tcp_connections_per_allocation allows, conn is
// closed and ok is false.
func (a *relayAlloc) wrapConn(conn net.Conn) (_ net.Conn, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conns == nil { // the allocation is already closed
		_ = conn.Close()
		return conn, true
	}
	if a.fullLocked() {
		_ = conn.Close()
		return nil, false
	}
	a.conns[conn] = struct{}{}
	return &relayTCPConn{Conn: conn, alloc: a}, true
}

// full reports whether the allocation holds as many peer connections as
// it may.
func (a *relayAlloc) full() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fullLocked()
}

func (a *relayAlloc) fullLocked() bool {
	return a.r.tcpConnsPerAlloc > 0 && len(a.conns) >= a.r.tcpConnsPerAlloc
}

// relayTCPConn is a peer connection of a TCP allocation. TCP cannot drop
// bytes, so the bandwidth cap delays reads and writes instead.
type relayTCPConn struct {
	net.Conn
	alloc *relayAlloc
}

// Read reads from the peer, then waits for the bytes' share of the cap.
func (c *relayTCPConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.alloc.r.flows.tcpIn.add(n)
		if waitErr := waitBytes(c.alloc.ctx, c.alloc.in, n); waitErr != nil && err == nil {
			err = net.ErrClosed
		}
	}
	return n, err
}

// Write waits for the bytes' share of the cap, then writes to the peer.
func (c *relayTCPConn) Write(p []byte) (int, error) {
	if err := waitBytes(c.alloc.ctx, c.alloc.out, len(p)); err != nil {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.alloc.r.flows.tcpOut.add(n)
	}
	return n, err
}

// Close closes the peer connection and forgets it.
func (c *relayTCPConn) Close() error {
	c.alloc.mu.Lock()
	delete(c.alloc.conns, c.Conn)
	c.alloc.mu.Unlock()
	return c.Conn.Close()
}

// waitBytes takes n bytes from a token bucket, in pieces no larger than its
// burst; a nil bucket means no cap.
func waitBytes(ctx context.Context, lim *rate.Limiter, n int) error {
	if lim == nil {
		return nil
	}
	for n > 0 {
		chunk := min(n, lim.Burst())
		if err := lim.WaitN(ctx, chunk); err != nil {
			return err
		}
		n -= chunk
	}
	return nil
}
