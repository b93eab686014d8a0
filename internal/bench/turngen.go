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

// turnAlloc is one allocation of the generator: a pion client on its own
// UDP socket, used for the control plane of TURN (allocate, permission,
// channel bind, refreshes). The measured traffic is ChannelData written on
// the same socket in batches (sendmmsg), so that the generator costs far
// less per packet than any relay it measures.
type turnAlloc struct {
	id     uint32
	conn   *net.UDPConn
	batch  *ipv4.PacketConn
	client *turn.Client
	relay  net.PacketConn
	server *net.UDPAddr
	seq    uint32
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
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: server.String(), TURNServerAddr: server.String(),
		Conn: conn, Username: user, Password: pass, Realm: realm})
	if err != nil {
		conn.Close()
		return nil, err
	}
	a := &turnAlloc{id: id, conn: conn, batch: ipv4.NewPacketConn(conn), client: c, server: server}
	if err := c.Listen(); err != nil {
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

func (a *turnAlloc) close() {
	if a.relay != nil {
		_ = a.relay.Close()
	}
	if a.client != nil {
		a.client.Close()
	}
	_ = a.conn.Close()
}

func closeAllocs(allocs []*turnAlloc) {
	for _, a := range allocs {
		a.close()
	}
}

// turnSink receives relayed packets on a loopback socket and checks that
// each arrives at most once.
type turnSink struct {
	conn     *net.UDPConn
	seen     map[uint32]*bitset // by allocation; owned by the reader
	dups     atomic.Int64
	received atomic.Int64
	bytes    atomic.Int64
	done     chan struct{}
}

func newSink() (*turnSink, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(8 << 20)
	s := &turnSink{conn: conn, seen: map[uint32]*bitset{}, done: make(chan struct{})}
	go s.read()
	return s, nil
}

func (s *turnSink) addr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) } //nolint:forcetypeassert // UDP

func (s *turnSink) read() {
	defer close(s.done)
	pc := ipv4.NewPacketConn(s.conn)
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			return
		}
		for _, m := range msgs[:n] {
			if m.N < 8 {
				continue
			}
			b := m.Buffers[0]
			id, seq := binary.BigEndian.Uint32(b[0:]), binary.BigEndian.Uint32(b[4:])
			set := s.seen[id]
			if set == nil {
				set = &bitset{}
				s.seen[id] = set
			}
			if set.set(seq) {
				s.dups.Add(1)
			}
			s.bytes.Add(int64(m.N))
		}
		s.received.Add(int64(n))
	}
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
				bufs[i] = channelData(bufs[i], payload)
				msgs[i] = ipv4.Message{Buffers: [][]byte{bufs[i]}, Addr: a.server}
			}
			w, err := a.batch.WriteBatch(msgs[:n], 0)
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
