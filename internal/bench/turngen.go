package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/turn/v5"
	"golang.org/x/net/ipv4"
)

// turnChannel is the channel number pion's client binds first: each
// allocation of the generator has exactly one peer, the sink.
const turnChannel = 0x4000

// Directions of the turn scenario's media.
const (
	clientToPeer = "client-to-peer"
	peerToClient = "peer-to-client"
)

// turnAlloc is one allocation of the generator: a pion client on its own
// UDP socket, used for the control plane of TURN (allocate, permission,
// channel bind, refreshes). The measured traffic goes in batches (sendmmsg)
// so that the generator costs far less per packet than any relay it
// measures: client to peer, ChannelData written on the same socket; peer
// to client, plain datagrams written by the sink to the relayed address,
// arriving on this socket as ChannelData that recv counts before pion's
// read loop would see it.
type turnAlloc struct {
	id     uint32
	conn   *net.UDPConn
	batch  *ipv4.PacketConn
	client *turn.Client
	relay  net.PacketConn
	server *net.UDPAddr
	seq    uint32
	recv   *turnClientConn

	// Where the measured packets leave from and go to (see aim).
	out    *ipv4.PacketConn
	to     net.Addr
	framed bool // wrapped in ChannelData
}

// openAllocs makes k allocations on server with the given credentials and
// binds each to sinks[i%len(sinks)].
func openAllocs(server *net.UDPAddr, user, pass, realm string, k int, sinks []*turnSink) ([]*turnAlloc, error) {
	var allocs []*turnAlloc
	for i := range k {
		a, err := openAlloc(uint32(i), server, user, pass, realm, sinks[i%len(sinks)].addr()) //nolint:gosec // small
		if err != nil {
			closeAllocs(allocs)
			return nil, fmt.Errorf("allocation %d: %w", i, err)
		}
		allocs = append(allocs, a)
	}
	time.Sleep(300 * time.Millisecond) // channel bindings complete in the background
	return allocs, nil
}

func openAlloc(id uint32, server *net.UDPAddr, user, pass, realm string, sink *net.UDPAddr) (*turnAlloc, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	_ = conn.SetWriteBuffer(4 << 20)
	_ = conn.SetReadBuffer(4 << 20)
	batch := ipv4.NewPacketConn(conn)
	recv := newTurnClientConn(conn, batch)
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: server.String(), TURNServerAddr: server.String(),
		Conn: recv, Username: user, Password: pass, Realm: realm})
	if err != nil {
		conn.Close()
		return nil, err
	}
	a := &turnAlloc{id: id, conn: conn, batch: batch, client: c, server: server, recv: recv}
	if err := c.Listen(); err != nil {
		a.recv.doneOnce.Do(func() { close(a.recv.done) }) // no read loop to wait for
		a.close()
		return nil, err
	}
	if a.relay, err = c.Allocate(); err != nil {
		a.close()
		return nil, err
	}
	// The first write creates the permission and starts the channel
	// binding; it is sent as a Send indication and counted as sequence 0.
	if _, err := a.relay.WriteTo(a.packet(nil, 64), sink); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// aim sets where the measured packets go: ChannelData from the client
// socket to the server, or plain datagrams from the sink to the relayed
// address. Peer to client starts the numbering again: the packet that
// opened the channel went the other way.
func (a *turnAlloc) aim(direction string, sink *turnSink) {
	if direction == peerToClient {
		a.out, a.to, a.framed, a.seq = sink.batch, a.relay.LocalAddr(), false, 0
		return
	}
	a.out, a.to, a.framed = a.batch, a.server, true
	sink.expect(a.id, a.relay.LocalAddr())
}

// packet builds the next payload of size bytes: allocation id and
// sequence number first.
func (a *turnAlloc) packet(dst []byte, size int) []byte {
	dst = append(dst[:0], make([]byte, size)...)
	binary.BigEndian.PutUint32(dst[0:], a.id)
	binary.BigEndian.PutUint32(dst[4:], a.seq)
	a.seq++
	return dst
}

// channelData wraps a payload in a TURN ChannelData message.
func channelData(dst, payload []byte) []byte {
	dst = append(dst[:0], 0, 0, 0, 0)
	binary.BigEndian.PutUint16(dst[0:], turnChannel)
	binary.BigEndian.PutUint16(dst[2:], uint16(len(payload))) //nolint:gosec // at most 1200
	return append(dst, payload...)
}

// close ends the allocation; afterwards its receive counts may be read.
func (a *turnAlloc) close() {
	if a.relay != nil {
		_ = a.relay.Close()
	}
	if a.client != nil {
		a.client.Close()
	}
	_ = a.conn.Close()
	if a.client != nil {
		<-a.recv.done // pion's read loop has ended
	}
}

func closeAllocs(allocs []*turnAlloc) {
	for _, a := range allocs {
		a.close()
	}
}

// turnCount owns what one reader received of the measured packets: the
// sequence numbers seen per allocation (read by the reader only, until it
// has ended), and counts that may be read at any time.
type turnCount struct {
	seen     map[uint32]*bitset
	dups     atomic.Int64
	received atomic.Int64
	bytes    atomic.Int64
}

func newTurnCount() turnCount { return turnCount{seen: map[uint32]*bitset{}} }

// packet counts one payload: allocation id and sequence number first.
func (c *turnCount) packet(b []byte) {
	id, seq := binary.BigEndian.Uint32(b[0:]), binary.BigEndian.Uint32(b[4:])
	set := c.seen[id]
	if set == nil {
		set = &bitset{}
		c.seen[id] = set
	}
	if set.set(seq) {
		c.dups.Add(1)
	}
	c.bytes.Add(int64(len(b)))
	c.received.Add(1)
}

// got is how many distinct packets of allocation id arrived.
func (c *turnCount) got(id uint32) int {
	if set := c.seen[id]; set != nil {
		return set.count()
	}
	return 0
}

// misrouted is how many distinct packets of allocations other than own
// arrived.
func (c *turnCount) misrouted(own uint32) int64 {
	var n int64
	for id, set := range c.seen {
		if id != own {
			n += int64(set.count())
		}
	}
	return n
}

// turnSink is a peer on a loopback socket: it receives relayed packets
// (client to peer) and checks that each arrives at most once, and sends
// the measured packets peer to client.
type turnSink struct {
	conn  *net.UDPConn
	batch *ipv4.PacketConn
	count turnCount
	done  chan struct{}

	// mu guards relayOf: for each allocation aimed at this sink, the
	// relayed address its packets must come from. A measured packet of
	// another allocation, or from another address, is misrouted.
	mu        sync.Mutex
	relayOf   map[uint32]string
	misrouted atomic.Int64
}

// expect says that allocation id sends to this sink from its relayed
// address relay.
func (s *turnSink) expect(id uint32, relay net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.relayOf == nil {
		s.relayOf = map[uint32]string{}
	}
	s.relayOf[id] = relay.String()
}

// routed reports whether a packet of allocation id that came from addr
// reached the right peer from the right relayed address; before any
// allocation was aimed (the packets that open the channels), every packet
// is. The caller holds mu.
func (s *turnSink) routed(id uint32, from net.Addr) bool {
	if s.relayOf == nil {
		return true
	}
	want, ok := s.relayOf[id]
	return ok && from != nil && from.String() == want
}

func newSink() (*turnSink, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(8 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	s := &turnSink{conn: conn, batch: ipv4.NewPacketConn(conn), count: newTurnCount(), done: make(chan struct{})}
	go s.read()
	return s, nil
}

func (s *turnSink) addr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) } //nolint:forcetypeassert // UDP

func (s *turnSink) read() {
	defer close(s.done)
	msgs := newReadMsgs()
	for {
		n, err := s.batch.ReadBatch(msgs, 0)
		if err != nil {
			return
		}
		s.mu.Lock()
		for _, m := range msgs[:n] {
			if m.N >= 8 {
				b := m.Buffers[0][:m.N]
				if !s.routed(binary.BigEndian.Uint32(b), m.Addr) {
					s.misrouted.Add(1)
				}
				s.count.packet(b)
			}
		}
		s.mu.Unlock()
	}
}

// newReadMsgs is the scratch of one recvmmsg.
func newReadMsgs() []ipv4.Message {
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	return msgs
}

// turnClientConn is the socket a generator allocation's pion client reads
// through. It reads in batches (recvmmsg), counts the measured ChannelData
// on the channel itself and hands everything else (STUN) to pion. It owns
// the batch and the count; done closes when pion's read loop got an error.
type turnClientConn struct {
	*net.UDPConn
	batch    *ipv4.PacketConn
	msgs     []ipv4.Message
	next, n  int
	count    turnCount
	done     chan struct{}
	doneOnce sync.Once
}

func newTurnClientConn(conn *net.UDPConn, batch *ipv4.PacketConn) *turnClientConn {
	return &turnClientConn{UDPConn: conn, batch: batch, msgs: newReadMsgs(), count: newTurnCount(), done: make(chan struct{})}
}

// ReadFrom returns the next datagram that is not measured ChannelData.
func (c *turnClientConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		for c.next < c.n {
			m := &c.msgs[c.next]
			c.next++
			b := m.Buffers[0][:m.N]
			if c.measured(b) {
				continue
			}
			return copy(p, b), m.Addr, nil
		}
		n, err := c.batch.ReadBatch(c.msgs, 0)
		if err != nil {
			c.doneOnce.Do(func() { close(c.done) })
			return 0, nil, err
		}
		c.next, c.n = 0, n
	}
}

// measured counts b if it is ChannelData on the generator's channel
// carrying a measured payload.
func (c *turnClientConn) measured(b []byte) bool {
	if len(b) < 4+8 || binary.BigEndian.Uint16(b) != turnChannel {
		return false
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if 4+n > len(b) || n < 8 {
		return false
	}
	c.count.packet(b[4 : 4+n])
	return true
}

// close stops the reader; afterwards seen may be read.
func (s *turnSink) close() {
	_ = s.conn.Close()
	<-s.done
}

// turnSend offers rate packets of size bytes per second for d, spread over
// the allocations, in batches of a millisecond's worth per socket.
func turnSend(ctx context.Context, allocs []*turnAlloc, senders int, rate float64, size int, d time.Duration) (sent, errs int64) {
	var total, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for s := range senders {
		var mine []*turnAlloc
		for i := s; i < len(allocs); i += senders {
			mine = append(mine, allocs[i])
		}
		share := rate / float64(senders)
		wg.Go(func() {
			n, e := turnSendShare(ctx, mine, share, size, start, d)
			total.Add(n)
			failed.Add(e)
		})
	}
	wg.Wait()
	return total.Load(), failed.Load()
}

func turnSendShare(ctx context.Context, mine []*turnAlloc, rate float64, size int, start time.Time, d time.Duration) (sent, errs int64) {
	if len(mine) == 0 {
		return 0, 0
	}
	msgs := make([]ipv4.Message, 256)
	bufs := make([][]byte, len(msgs))
	var payload []byte
	next := 0
	for elapsed := time.Since(start); elapsed < d && ctx.Err() == nil; elapsed = time.Since(start) {
		due := int64(rate*elapsed.Seconds()) - sent
		for due > 0 {
			a := mine[next%len(mine)]
			next++
			n := int(min(due, int64(len(msgs)), max(1, due/int64(len(mine)))))
			for i := range n {
				payload = a.packet(payload, size)
				if a.framed {
					bufs[i] = channelData(bufs[i], payload)
				} else {
					bufs[i] = append(bufs[i][:0], payload...)
				}
				msgs[i] = ipv4.Message{Buffers: [][]byte{bufs[i]}, Addr: a.to}
			}
			w, err := a.out.WriteBatch(msgs[:n], 0)
			if err != nil {
				errs++
			}
			a.seq -= uint32(n - w) //nolint:gosec // unsent packets get their numbers again
			sent += int64(w)
			due -= int64(n)
		}
		time.Sleep(time.Millisecond)
	}
	return sent, errs
}
