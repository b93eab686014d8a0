//go:build linux

package ice

import (
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvBatch is how many datagrams one recvmmsg may return.
const recvBatch = 64

// relayRecvStart is how many datagrams a relay socket's first recvmmsg may
// return; a batch that fills every slot doubles them, up to recvBatch, so
// that a quiet allocation does not hold a listener's worth of buffers.
const relayRecvStart = 8

// addrCacheMax bounds the source addresses a listener remembers; past it
// the cache starts over.
const addrCacheMax = 4096

// mmsghdr is the kernel's struct mmsghdr: one message header and the
// length the kernel filled in.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// batchConn is a UDP socket read in batches: a listener, or the relay
// socket of an allocation. It owns the socket, the slots one recvmmsg
// fills and the cache of source addresses. ReadFrom hands the datagrams
// out one at a time and goes back to the kernel only when the batch is
// used up. Just before that it flushes out: for a listener, the datagrams
// the relay sockets of its allocations were asked to send meanwhile; for
// a relay socket, the datagrams its allocation was asked to send to its
// client. An idle socket waits in the poller as a plain one does.
type batchConn struct {
	conn  *net.UDPConn
	raw   syscall.RawConn
	laddr net.Addr
	out   *sendBatch

	// A listener's only: its allocations' queues to their clients, and
	// the source of the datagram handed out last (pion allocates while it
	// handles that datagram, so it is the new allocation's client).
	clients *clientRoutes
	src     atomic.Pointer[net.UDPAddr]
	onClose func() // a relay socket's: forget its client route

	mu      sync.Mutex // one reader at a time; guards what follows
	slots   recvSlots
	next    int // next slot to hand out
	count   int // slots the last recvmmsg filled
	addrs   addrCache
	recvFn  func(fd uintptr) bool // c.recv, bound once
	recvErr syscall.Errno

	closed   atomic.Bool
	deadline atomic.Int64 // read deadline in Unix nanoseconds; 0: none
}

// newBatchConn wraps a UDP listener socket so that it is read in batches,
// and returns it again as the listener its allocations batch through.
// Anything but a *net.UDPConn is returned as it is, with no listener.
func newBatchConn(c net.PacketConn, r *relays) (net.PacketConn, *batchConn) {
	uc, ok := c.(*net.UDPConn)
	if !ok {
		return c, nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return c, nil
	}
	b := newBatchReader(uc, raw, newSendBatch(r), recvBatch)
	b.clients = &clientRoutes{}
	return b, b
}

// newBatchReader reads uc in batches of up to slots datagrams to begin
// with, flushing out before each read.
func newBatchReader(uc *net.UDPConn, raw syscall.RawConn, out *sendBatch, slots int) *batchConn {
	b := &batchConn{conn: uc, raw: raw, laddr: uc.LocalAddr(), out: out}
	b.slots.want = slots
	b.recvFn = b.recv
	return b
}

// ReadFrom returns the next datagram of the batch, reading a new batch
// when this one is used up. A datagram longer than p is cut to len(p), as
// a plain read does.
func (c *batchConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.next == c.count {
			if err := c.fill(len(p)); err != nil {
				return 0, nil, err
			}
			continue
		}
		if err := c.check(); err != nil {
			c.out.flush()
			return 0, nil, err
		}
		i := c.next
		c.next++
		c.out.setActive(c.next < c.count)
		if n, addr := c.take(i, p); addr != nil {
			if c.clients != nil {
				c.src.Store(addr)
			}
			return n, addr, nil
		}
	}
}

// fill flushes the queued relay datagrams, then waits for at least one
// datagram and takes as many as are queued, up to recvBatch.
func (c *batchConn) fill(size int) error {
	c.out.flush()
	c.slots.rearm(c.count)
	c.slots.grow(c.count)
	c.next, c.count = 0, 0
	if err := c.check(); err != nil {
		return err
	}
	c.slots.ensure(max(size, 1))
	err := c.raw.Read(c.recvFn)
	if err == nil && c.recvErr != 0 {
		err = os.NewSyscallError("recvmmsg", c.recvErr)
	}
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err
		}
		return c.opError(err)
	}
	return nil
}

// recv is the poller callback: one recvmmsg; false means nothing is queued
// yet and the poller should wait.
func (c *batchConn) recv(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&c.slots.hdrs[0])), uintptr(c.slots.want), 0, 0, 0)
		switch errno {
		case 0:
			c.count, c.recvErr = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			c.count, c.recvErr = 0, errno
			return true
		}
	}
}

// take copies datagram i into p and returns its source; nil when the
// kernel gave no IPv4 or IPv6 source (never seen on a UDP socket), and the
// datagram is skipped.
func (c *batchConn) take(i int, p []byte) (int, *net.UDPAddr) {
	h := &c.slots.hdrs[i]
	start := i * c.slots.size
	n := copy(p, c.slots.bufs[start:start+int(h.n)])
	addr := c.addrs.get(&c.slots.names[i], h.hdr.Namelen)
	if addr == nil {
		return 0, nil
	}
	return n, addr
}

// check reports a closed socket or a passed read deadline, which stop the
// batch from being handed out like they stop a plain read.
func (c *batchConn) check() error {
	if c.closed.Load() {
		return c.opError(net.ErrClosed)
	}
	if d := c.deadline.Load(); d != 0 && time.Now().UnixNano() >= d {
		return c.opError(os.ErrDeadlineExceeded)
	}
	return nil
}

// opError wraps err the way a plain UDP read reports it.
func (c *batchConn) opError(err error) error {
	return &net.OpError{Op: "read", Net: c.laddr.Network(), Source: c.laddr, Err: err}
}

// WriteTo sends on the socket. On a listener, a datagram to the client of
// an allocation whose relay socket is handing out a batch is queued
// instead, and sent when that batch is drained.
func (c *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.clients == nil {
		return c.conn.WriteTo(p, addr)
	}
	ap, ok := addrPortOf(addr)
	var s *relaySender
	if ok {
		s = c.clients.lookup(ap)
	}
	if s.queue(p, ap) {
		return len(p), nil
	}
	n, err := c.conn.WriteTo(p, addr)
	if err != nil && s != nil {
		s.batch.r.sendErrors.Inc()
	}
	return n, err
}

// Close closes the socket; a blocked ReadFrom returns.
func (c *batchConn) Close() error {
	if c.closed.Swap(true) {
		return c.conn.Close() // reports that it is closed already
	}
	if c.onClose != nil {
		c.onClose()
	}
	return c.conn.Close()
}

// LocalAddr returns the listener's address.
func (c *batchConn) LocalAddr() net.Addr { return c.laddr }

// SetDeadline sets the read and write deadlines.
func (c *batchConn) SetDeadline(t time.Time) error {
	c.setReadDeadline(t)
	return c.conn.SetDeadline(t)
}

// SetReadDeadline sets the read deadline, which also applies to datagrams
// already in the batch.
func (c *batchConn) SetReadDeadline(t time.Time) error {
	c.setReadDeadline(t)
	return c.conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline.
func (c *batchConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

func (c *batchConn) setReadDeadline(t time.Time) {
	if t.IsZero() {
		c.deadline.Store(0)
		return
	}
	c.deadline.Store(max(t.UnixNano(), 1))
}

// recvSlots are the buffers, address storage and headers one recvmmsg
// fills; they live as long as their socket.
type recvSlots struct {
	size  int    // bytes per slot
	want  int    // slots the next recvmmsg may fill
	ready int    // slots bufs holds
	bufs  []byte // ready slots of size bytes
	names [recvBatch]unix.RawSockaddrInet6
	iovs  [recvBatch]unix.Iovec
	hdrs  [recvBatch]mmsghdr
}

// grow doubles the slots, up to recvBatch, when the last recvmmsg filled
// them all; ensure then makes room.
func (s *recvSlots) grow(filled int) {
	if filled == s.want && s.want < recvBatch {
		s.want = min(2*s.want, recvBatch)
	}
}

// ensure makes want slots hold at least size bytes each.
func (s *recvSlots) ensure(size int) {
	if size <= s.size && s.want <= s.ready {
		return
	}
	s.size, s.ready = max(size, s.size), s.want
	size = s.size
	s.bufs = make([]byte, s.ready*size)
	for i := range s.ready {
		s.iovs[i].Base = &s.bufs[i*size]
		s.iovs[i].SetLen(size)
		h := &s.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&s.names[i]))
		h.Iov = &s.iovs[i]
		h.SetIovlen(1)
	}
	s.rearm(s.ready)
}

// rearm resets the fields the kernel wrote in the first n headers.
func (s *recvSlots) rearm(n int) {
	for i := range n {
		s.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet6
		s.hdrs[i].hdr.Flags = 0
		s.hdrs[i].n = 0
	}
}

// addrCache owns the source addresses a batchConn hands out: one
// *net.UDPAddr per source seen recently, shared by all its datagrams, so
// that a known source costs no allocation. Readers must not modify them
// (pion does not).
type addrCache struct {
	m map[addrKey]*net.UDPAddr
}

// addrKey is a source address as the kernel gave it.
type addrKey struct {
	ip    [16]byte
	port  uint16
	v6    bool
	scope uint32
}

// get returns the address of a kernel sockaddr of n bytes, nil if it is
// not an IPv4 or IPv6 one.
func (c *addrCache) get(sa *unix.RawSockaddrInet6, n uint32) *net.UDPAddr {
	key, ok := keyOf(sa, n)
	if !ok {
		return nil
	}
	if a, hit := c.m[key]; hit {
		return a
	}
	if c.m == nil {
		c.m = make(map[addrKey]*net.UDPAddr)
	} else if len(c.m) >= addrCacheMax {
		clear(c.m)
	}
	a := key.udpAddr()
	c.m[key] = a
	return a
}

func keyOf(sa *unix.RawSockaddrInet6, n uint32) (addrKey, bool) {
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	k := addrKey{port: uint16(port[0])<<8 | uint16(port[1])}
	switch {
	case sa.Family == unix.AF_INET && n >= unix.SizeofSockaddrInet4:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		copy(k.ip[:4], sa4.Addr[:])
		return k, true
	case sa.Family == unix.AF_INET6 && n >= unix.SizeofSockaddrInet6:
		k.ip, k.v6, k.scope = sa.Addr, true, sa.Scope_id
		return k, true
	}
	return addrKey{}, false
}

// udpAddr builds the address a plain read would return: a 4-byte IP from
// an IPv4 socket, a 16-byte one (perhaps IPv4-mapped) from an IPv6 socket.
func (k addrKey) udpAddr() *net.UDPAddr {
	if !k.v6 {
		return &net.UDPAddr{IP: net.IP{k.ip[0], k.ip[1], k.ip[2], k.ip[3]}, Port: int(k.port)}
	}
	ip := make(net.IP, net.IPv6len)
	copy(ip, k.ip[:])
	return &net.UDPAddr{IP: ip, Port: int(k.port), Zone: zoneName(k.scope)}
}

// zoneName names an IPv6 scope as the net package does: the interface
// name, else the index.
func zoneName(scope uint32) string {
	if scope == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(int(scope)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(scope), 10)
}
