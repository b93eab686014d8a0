//go:build linux

package ice

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Limits of one UDP GSO send: segments (the kernel's oldest limit), and
// payload bytes in all (an IP datagram, headers included, stays under
// 64 KiB).
const (
	gsoMaxSegments = 64
	gsoMaxBytes    = 65000
)

// sendBatch holds the datagrams written while a batched reader still had
// received datagrams to hand out, and owns their copies. For a listener's
// reader they are what the relay sockets of its allocations were asked to
// send to peers; for a relay socket's reader, what its allocation was
// asked to send to its client through the listener. The reader flushes
// them, one sendmmsg per sending socket (consecutive datagrams to one
// destination merged with UDP GSO), just before it reads again or waits,
// so nothing lingers once the batch is drained.
type sendBatch struct {
	r         *relays
	relayed   *flow       // counts what was sent; nil: counted when received
	direction string      // toPeer or fromPeer, for the log
	active    atomic.Bool // the reader has more received datagrams to hand out

	mu    sync.Mutex
	queue sendQueue // waiting to be flushed
	spare sendQueue // storage of the previous queue, for the next one

	// Used by the flushing reader only.
	gen     uint64
	senders []*relaySender // of the queue being flushed, in first-queued order
	starts  []int          // where each sender's datagrams start in order
	cursor  []int          // scratch of groupBySender
	order   []int32        // queue indexes grouped by sender, queue order kept
	plan    sendPlan
	sendFn  func(fd uintptr) bool // b.sendmmsg, bound once
	sent    int                   // messages of plan.pending the kernel took
	sendErr syscall.Errno
}

// sendQueue is a list of datagrams and the bytes they point into.
type sendQueue struct {
	data  []byte
	items []queuedDatagram
}

// queuedDatagram is one datagram waiting in a sendQueue.
type queuedDatagram struct {
	to      *relaySender
	off, n  int
	peer    unix.RawSockaddrInet6 // destination, already in kernel form
	peerLen uint32
}

// relaySender is the batched send path of one sending socket (a relay
// socket, or the listener towards one allocation's client): the raw
// socket, its address family, whether GSO still works on it, and how many
// of its datagrams are queued or being sent.
type relaySender struct {
	batch  *sendBatch
	alloc  *relayAlloc
	raw    syscall.RawConn
	family int

	queued int // guarded by batch.mu

	// Used by the flushing reader only.
	noGSO bool
	gen   uint64
	group int
}

// newSendBatch is the queue of a listener's reader: relay sockets sending
// to peers, counted as relayed once sent.
func newSendBatch(r *relays) *sendBatch {
	b := &sendBatch{r: r, direction: toPeer}
	if r != nil {
		b.relayed = &r.flows.udpOut
	}
	b.sendFn = b.sendmmsg
	return b
}

// newClientBatch is the queue of a relay socket's reader: the listener
// sending to the allocation's client. Those datagrams were counted as
// relayed when the relay socket received them.
func newClientBatch(r *relays) *sendBatch {
	b := &sendBatch{r: r, direction: fromPeer}
	b.sendFn = b.sendmmsg
	return b
}

// setActive tells whether more received datagrams follow the one being
// handed out: only then are relay writes queued rather than sent.
func (b *sendBatch) setActive(more bool) {
	if b != nil {
		b.active.Store(more)
	}
}

// newSender gives a relay socket of this listener's allocations the
// batched send path; nil (plain writes) when the socket is not a UDP one.
func (b *sendBatch) newSender(conn net.PacketConn, alloc *relayAlloc) *relaySender {
	uc, ok := conn.(*net.UDPConn)
	if b == nil || !ok {
		return nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	family := -1
	ctrlErr := raw.Control(func(fd uintptr) {
		family, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
	})
	if ctrlErr != nil || err != nil || (family != unix.AF_INET && family != unix.AF_INET6) {
		return nil
	}
	return &relaySender{batch: b, alloc: alloc, raw: raw, family: family}
}

// queue takes a copy of p for peer when the listener is handing out a
// batch, or when earlier datagrams of this socket still wait (so that a
// flow keeps its order). False means the caller sends p itself.
func (s *relaySender) queue(p []byte, peer netip.AddrPort) bool {
	if s == nil {
		return false
	}
	var item queuedDatagram
	if !encodeSockaddr(&item, peer, s.family) {
		return false // always sent directly, so its flow keeps its order
	}
	b := s.batch
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.active.Load() && s.queued == 0 {
		return false
	}
	item.to, item.off, item.n = s, len(b.queue.data), len(p)
	b.queue.data = append(b.queue.data, p...)
	b.queue.items = append(b.queue.items, item)
	s.queued++
	return true
}

// encodeSockaddr writes peer as a sockaddr of the socket's family; false
// when it has none (an IPv6 peer on an IPv4 socket).
func encodeSockaddr(item *queuedDatagram, peer netip.AddrPort, family int) bool {
	addr := peer.Addr()
	port := (*[2]byte)(unsafe.Pointer(&item.peer.Port))
	port[0], port[1] = byte(peer.Port()>>8), byte(peer.Port())
	if family == unix.AF_INET {
		addr = addr.Unmap()
		if !addr.Is4() {
			return false
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&item.peer))
		sa4.Family, sa4.Addr = unix.AF_INET, addr.As4()
		item.peerLen = unix.SizeofSockaddrInet4
		return true
	}
	scope, ok := scopeID(addr.Zone())
	if !ok {
		return false
	}
	item.peer.Family, item.peer.Addr, item.peer.Scope_id = unix.AF_INET6, addr.As16(), scope
	item.peerLen = unix.SizeofSockaddrInet6
	return true
}

// scopeID turns an IPv6 zone (interface name or index) into its index.
func scopeID(zone string) (uint32, bool) {
	if zone == "" {
		return 0, true
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), true
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, false
	}
	return uint32(ifi.Index), true //nolint:gosec // an interface index
}

// flush sends everything queued; the reader calls it before it reads a
// new batch, waits, or returns an error.
func (b *sendBatch) flush() {
	if b == nil {
		return
	}
	b.active.Store(false)
	for {
		b.mu.Lock()
		if len(b.queue.items) == 0 {
			b.mu.Unlock()
			return
		}
		q := b.queue
		b.queue, b.spare = b.spare, sendQueue{}
		b.mu.Unlock()

		b.send(&q)

		b.mu.Lock()
		for i := range q.items {
			q.items[i].to.queued--
		}
		clear(q.items)
		b.spare = sendQueue{data: q.data[:0], items: q.items[:0]}
		b.mu.Unlock()
	}
}

// send groups q by relay socket, keeping each socket's order, and sends
// each group.
func (b *sendBatch) send(q *sendQueue) {
	b.groupBySender(q)
	for g, s := range b.senders {
		b.sendGroup(s, q, b.order[b.starts[g]:b.starts[g+1]])
	}
	clear(b.senders)
}

// groupBySender fills senders (in first-queued order) and order, where
// the queue indexes of senders[g] are order[starts[g]:starts[g+1]].
func (b *sendBatch) groupBySender(q *sendQueue) {
	b.gen++
	b.senders, b.starts = b.senders[:0], b.starts[:0]
	for i := range q.items {
		s := q.items[i].to
		if s.gen != b.gen {
			s.gen, s.group = b.gen, len(b.senders)
			b.senders = append(b.senders, s)
			b.starts = append(b.starts, 0)
		}
		b.starts[s.group]++
	}
	// Counts become start offsets; cursor then walks each group.
	next := 0
	for g, n := range b.starts {
		b.starts[g], next = next, next+n
	}
	b.starts = append(b.starts, next)
	b.cursor = append(b.cursor[:0], b.starts...)
	b.order = slices.Grow(b.order[:0], len(q.items))[:len(q.items)]
	for i := range q.items {
		g := q.items[i].to.group
		b.order[b.cursor[g]] = int32(i) //nolint:gosec // a batch index
		b.cursor[g]++
	}
}

// sendGroup sends the datagrams idx of one relay socket, in order. A
// failed GSO message is sent again as separate datagrams (and GSO is not
// tried again on that socket); any other failure drops the datagram and
// counts it.
func (b *sendBatch) sendGroup(s *relaySender, q *sendQueue, idx []int32) {
	for len(idx) > 0 {
		k := b.plan.build(q, idx, !s.noGSO)
		b.sent, b.sendErr = 0, 0
		b.plan.pending = b.plan.hdrs[:k]
		err := s.raw.Write(b.sendFn)
		b.account(b.plan.msgs[:b.sent])
		if b.sent == k {
			return
		}
		m := b.plan.msgs[b.sent]
		if err != nil { // the socket is closed: nothing more can leave it
			b.dropped(s, idx[m.first:], err)
			return
		}
		if m.segs > 1 {
			s.noGSO = true
			idx = idx[m.first:]
			continue
		}
		b.dropped(s, idx[m.first:m.first+1], os.NewSyscallError("sendmmsg", b.sendErr))
		idx = idx[m.first+1:]
	}
}

// sendmmsg is the poller callback: it sends plan.pending from b.sent on,
// stopping at the first message the kernel refuses; false means the send
// buffer is full and the poller should wait.
func (b *sendBatch) sendmmsg(fd uintptr) bool {
	hdrs := b.plan.pending
	for b.sent < len(hdrs) {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[b.sent])), uintptr(len(hdrs)-b.sent), 0, 0, 0)
		switch errno {
		case 0:
			if n == 0 { // cannot happen; do not spin on it
				b.sendErr = unix.EIO
				return true
			}
			b.sent += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			b.sendErr = errno
			return true
		}
	}
	return true
}

// account counts the datagrams of sent messages as relayed.
func (b *sendBatch) account(msgs []planMsg) {
	packets, bytes := 0, 0
	for _, m := range msgs {
		packets += m.segs
		bytes += m.bytes
	}
	if packets > 0 && b.relayed != nil {
		b.relayed.addMany(packets, bytes)
	}
}

// dropped counts datagrams that could not be sent.
func (b *sendBatch) dropped(s *relaySender, idx []int32, err error) {
	b.r.sendErrors.Add(float64(len(idx)))
	user, port := "", uint16(0)
	if s.alloc != nil {
		user, port = s.alloc.cred.Username, s.alloc.port
	}
	b.r.log.Debug("turn: relay send failed", "user", user, "port", port, "direction", b.direction,
		"datagrams", len(idx), "err", err)
}

// sendPlan is the scratch of one sendmmsg: message headers, iovecs and GSO
// control messages, and which datagrams each message carries.
type sendPlan struct {
	hdrs    []mmsghdr
	pending []mmsghdr // the headers being sent
	iovs    []unix.Iovec
	cmsgs   []gsoCmsg
	msgs    []planMsg
}

// planMsg is one message of a plan: datagrams idx[first:first+segs] of
// its group, bytes in all.
type planMsg struct {
	first, segs, bytes int
}

// gsoCmsg is a UDP_SEGMENT control message; its Go layout is the
// kernel's (header, then the 16-bit segment size, padded).
type gsoCmsg struct {
	hdr  unix.Cmsghdr
	size uint16
}

// build turns the datagrams idx into messages, merging runs to one peer
// into GSO messages when gso is set, and returns how many messages.
func (p *sendPlan) build(q *sendQueue, idx []int32, gso bool) int {
	p.reserve(len(idx))
	k, iov := 0, 0
	for i := 0; i < len(idx); k++ {
		segs := 1
		if gso {
			segs = gsoRun(q, idx[i:])
		}
		p.message(k, iov, q, idx[i:i+segs])
		p.msgs[k] = planMsg{first: i, segs: segs}
		for _, j := range idx[i : i+segs] {
			p.msgs[k].bytes += q.items[j].n
		}
		i += segs
		iov += segs
	}
	return k
}

// reserve makes room for n datagrams, so that no slice moves while the
// headers point into it.
func (p *sendPlan) reserve(n int) {
	if cap(p.hdrs) < n {
		p.hdrs = make([]mmsghdr, n)
		p.iovs = make([]unix.Iovec, n)
		p.cmsgs = make([]gsoCmsg, n)
		p.msgs = make([]planMsg, n)
	}
	p.hdrs, p.iovs, p.cmsgs, p.msgs = p.hdrs[:n], p.iovs[:n], p.cmsgs[:n], p.msgs[:n]
}

// message fills header k with the datagrams idx, which go to one peer and
// use iovecs from iov on.
func (p *sendPlan) message(k, iov int, q *sendQueue, idx []int32) {
	first := &q.items[idx[0]]
	for i, j := range idx {
		it := &q.items[j]
		p.iovs[iov+i] = unix.Iovec{}
		if it.n > 0 {
			p.iovs[iov+i].Base = &q.data[it.off]
			p.iovs[iov+i].SetLen(it.n)
		}
	}
	h := &p.hdrs[k]
	*h = mmsghdr{}
	h.hdr.Name = (*byte)(unsafe.Pointer(&first.peer))
	h.hdr.Namelen = first.peerLen
	h.hdr.Iov = &p.iovs[iov]
	h.hdr.SetIovlen(len(idx))
	if len(idx) > 1 {
		c := &p.cmsgs[k]
		c.hdr = unix.Cmsghdr{Level: unix.SOL_UDP, Type: unix.UDP_SEGMENT}
		c.hdr.SetLen(unix.CmsgLen(2))
		c.size = uint16(first.n) //nolint:gosec // below gsoMaxBytes
		h.hdr.Control = (*byte)(unsafe.Pointer(c))
		h.hdr.SetControllen(int(unsafe.Sizeof(*c)))
	}
}

// gsoRun counts the datagrams at the start of idx that one GSO message can
// carry: same peer, same size, except that the last may be shorter.
func gsoRun(q *sendQueue, idx []int32) int {
	first := &q.items[idx[0]]
	size, total := first.n, first.n
	if size == 0 {
		return 1
	}
	n := 1
	for n < len(idx) && n < gsoMaxSegments {
		it := &q.items[idx[n]]
		if it.peer != first.peer || it.n == 0 || it.n > size || total+it.n > gsoMaxBytes {
			break
		}
		total += it.n
		n++
		if it.n < size {
			break
		}
	}
	return n
}
