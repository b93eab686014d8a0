package ice

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// loopbackFamilies are the two loopback addresses the UDP tests use.
var loopbackFamilies = []struct {
	name, network, host string
	ipLen               int // length of the source IP a read returns
}{
	{"IPv4", "udp4", "127.0.0.1", net.IPv4len},
	{"IPv6", "udp6", "::1", net.IPv6len},
}

// listenBatch opens a UDP listener on a loopback address and wraps it the
// way the server does.
func listenBatch(t *testing.T, network, host string) net.PacketConn {
	t.Helper()
	pc, _ := newBatchConn(listenUDPOn(t, network, host), nil)
	t.Cleanup(func() { _ = pc.Close() })
	return pc
}

// dialUDP opens a client socket talking to addr.
func dialUDP(t *testing.T, network string, addr net.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP(network, nil, addr.(*net.UDPAddr)) //nolint:forcetypeassert // a UDP listener
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testDatagram is datagram seq of source src: its header, then a pattern
// both depend on, size bytes in all (at least 8).
func testDatagram(src, seq uint32, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b[0:], src)
	binary.BigEndian.PutUint32(b[4:], seq)
	for i := 8; i < size; i++ {
		b[i] = byte(int(src)*31 + int(seq) + i)
	}
	return b
}

// readOne reads one datagram within a few seconds.
func readOne(t *testing.T, c net.PacketConn, buf []byte) (int, net.Addr) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, addr, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	return n, addr
}

func TestBatchConnManySources(t *testing.T) {
	for _, fam := range loopbackFamilies {
		t.Run(fam.name, func(t *testing.T) {
			srv := listenBatch(t, fam.network, fam.host)
			const senders, rounds, burst = 4, 12, 15
			clients := make([]*net.UDPConn, senders)
			for i := range clients {
				clients[i] = dialUDP(t, fam.network, srv.LocalAddr())
			}
			next := make([]uint32, senders)
			buf := make([]byte, 1600)
			for round := range rounds {
				// Each round queues senders*burst datagrams, interleaved, so
				// that the reader finds several in the socket at once.
				for k := range burst {
					for s, c := range clients {
						seq := uint32(round*burst + k)                                                               //nolint:gosec // small
						if _, err := c.Write(testDatagram(uint32(s), seq, 8+(int(seq)*37+s*101)%1000)); err != nil { //nolint:gosec // small
							t.Fatal(err)
						}
					}
				}
				for range senders * burst {
					n, addr := readOne(t, srv, buf)
					s := checkDatagram(t, buf[:n], next, clients, addr, fam.ipLen)
					next[s]++
				}
			}
		})
	}
}

// checkDatagram checks that d is the next datagram of its source, intact,
// and comes from that source's address; it returns the source.
func checkDatagram(t *testing.T, d []byte, next []uint32, clients []*net.UDPConn, addr net.Addr, ipLen int) int {
	t.Helper()
	if len(d) < 8 {
		t.Fatalf("short datagram of %d bytes", len(d))
	}
	src, seq := binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:])
	if int(src) >= len(clients) {
		t.Fatalf("unknown source %d", src)
	}
	if seq != next[src] {
		t.Fatalf("source %d: datagram %d arrived when %d was due", src, seq, next[src])
	}
	if !bytes.Equal(d, testDatagram(src, seq, len(d))) {
		t.Fatalf("source %d datagram %d damaged", src, seq)
	}
	ua, ok := addr.(*net.UDPAddr)
	want := clients[src].LocalAddr().(*net.UDPAddr) //nolint:forcetypeassert // a UDP socket
	if !ok || !ua.IP.Equal(want.IP) || ua.Port != want.Port || len(ua.IP) != ipLen {
		t.Fatalf("source %d: address %#v, want %v with a %d-byte IP", src, addr, want, ipLen)
	}
	return int(src)
}

func TestBatchConnCloseWhileBlocked(t *testing.T) {
	for _, fam := range loopbackFamilies {
		t.Run(fam.name, func(t *testing.T) {
			srv := listenBatch(t, fam.network, fam.host)
			errc := make(chan error, 1)
			go func() {
				_, _, err := srv.ReadFrom(make([]byte, 1600))
				errc <- err
			}()
			time.Sleep(50 * time.Millisecond)
			if err := srv.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-errc:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("ReadFrom after Close: %v, want net.ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("ReadFrom still blocked 5s after Close")
			}
		})
	}
}

func TestBatchConnCloseWithDatagramsLeft(t *testing.T) {
	for _, fam := range loopbackFamilies {
		t.Run(fam.name, func(t *testing.T) {
			srv := listenBatch(t, fam.network, fam.host)
			c := dialUDP(t, fam.network, srv.LocalAddr())
			for seq := range uint32(5) {
				if _, err := c.Write(testDatagram(0, seq, 100)); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 1600)
			waitQueued(t, srv, buf)
			_ = srv.Close()
			if _, _, err := srv.ReadFrom(buf); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("ReadFrom after Close: %v, want net.ErrClosed", err)
			}
		})
	}
}

// waitQueued reads the first datagram once more have had time to queue up
// behind it.
func waitQueued(t *testing.T, c net.PacketConn, buf []byte) {
	t.Helper()
	time.Sleep(50 * time.Millisecond)
	readOne(t, c, buf)
}

func TestBatchConnDeadline(t *testing.T) {
	for _, fam := range loopbackFamilies {
		t.Run(fam.name, func(t *testing.T) {
			srv := listenBatch(t, fam.network, fam.host)
			buf := make([]byte, 1600)
			_ = srv.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
			_, _, err := srv.ReadFrom(buf)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("idle read with a deadline: %v, want a timeout", err)
			}

			c := dialUDP(t, fam.network, srv.LocalAddr())
			for seq := range uint32(3) {
				if _, err := c.Write(testDatagram(0, seq, 100)); err != nil {
					t.Fatal(err)
				}
			}
			waitQueued(t, srv, buf)
			// A passed deadline stops the datagrams already read too...
			_ = srv.SetReadDeadline(time.Now().Add(-time.Second))
			if _, _, err := srv.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read past the deadline: %v, want a timeout", err)
			}
			// ...and lifting it hands them out, in order.
			_ = srv.SetReadDeadline(time.Time{})
			for seq := uint32(1); seq < 3; seq++ {
				n, _, err := srv.ReadFrom(buf)
				if err != nil || binary.BigEndian.Uint32(buf[4:n]) != seq {
					t.Fatalf("read %d after the deadline was lifted: %d bytes, %v", seq, n, err)
				}
			}
		})
	}
}

func TestBatchConnTruncation(t *testing.T) {
	for _, fam := range loopbackFamilies {
		t.Run(fam.name, func(t *testing.T) {
			srv := listenBatch(t, fam.network, fam.host)
			c := dialUDP(t, fam.network, srv.LocalAddr())
			sizes := []int{3000, 10, 1600, 1599, 1601}
			for seq, size := range sizes {
				if _, err := c.Write(testDatagram(0, uint32(seq), size)); err != nil { //nolint:gosec // small
					t.Fatal(err)
				}
			}
			// pion reads into a buffer of its MTU and drops what fills it.
			buf := make([]byte, 1600)
			for seq, size := range sizes {
				n, _ := readOne(t, srv, buf)
				want := testDatagram(0, uint32(seq), size)[:min(size, len(buf))] //nolint:gosec // small
				if !bytes.Equal(buf[:n], want) {
					t.Fatalf("datagram %d of %d bytes: read %d bytes, want the first %d", seq, size, n, len(want))
				}
			}
		})
	}
}

// listenUDPOn opens a UDP socket on a loopback address, closed with the
// test (skipped where IPv6 loopback is missing).
func listenUDPOn(t *testing.T, network, host string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenPacket(network, net.JoinHostPort(host, "0"))
	if err != nil {
		if network == "udp6" {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	tuneUDP(c)
	return c.(*net.UDPConn) //nolint:forcetypeassert // a UDP socket
}

// recordingPeer is a loopback UDP socket that keeps every datagram it
// receives.
type recordingPeer struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  [][]byte
}

func newRecordingPeer(t *testing.T, network, host string) *recordingPeer {
	t.Helper()
	p := &recordingPeer{conn: listenUDPOn(t, network, host)}
	go func() {
		buf := make([]byte, 70000)
		for {
			n, _, err := p.conn.ReadFrom(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.got = append(p.got, append([]byte(nil), buf[:n]...))
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *recordingPeer) addrPort() netip.AddrPort {
	return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() //nolint:forcetypeassert // a UDP socket
}

func (p *recordingPeer) received() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.got...)
}

// waitReceived waits until the peer holds want datagrams and checks they
// are exactly want, in order.
func (p *recordingPeer) waitReceived(t *testing.T, want [][]byte) {
	t.Helper()
	waitFor(t, 5*time.Second, "datagrams at the peer", func() bool { return len(p.received()) >= len(want) })
	got := p.received()
	if len(got) != len(want) {
		t.Fatalf("peer received %d datagrams, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("datagram %d at the peer: %d bytes %x..., want %d bytes %x...", i, len(got[i]), prefix(got[i]), len(want[i]), prefix(want[i]))
		}
	}
}

func prefix(b []byte) []byte { return b[:min(len(b), 8)] }

// waitFlow checks that the datagrams the peer got from flow are want, in
// order; empty datagrams belong to no flow and are counted apart.
func (p *recordingPeer) waitFlow(t *testing.T, flow int, want [][]byte) {
	t.Helper()
	var nonEmpty [][]byte
	for _, d := range want {
		if len(d) > 0 {
			nonEmpty = append(nonEmpty, d)
		}
	}
	mine := func() [][]byte {
		var out [][]byte
		for _, d := range p.received() {
			if len(d) >= 8 && int(d[3]) == flow {
				out = append(out, d)
			}
		}
		return out
	}
	waitFor(t, 5*time.Second, "the flow's datagrams", func() bool { return len(mine()) >= len(nonEmpty) })
	got := mine()
	if len(got) != len(nonEmpty) {
		t.Fatalf("flow %d: %d datagrams, want %d", flow, len(got), len(nonEmpty))
	}
	for i := range got {
		if !bytes.Equal(got[i], nonEmpty[i]) {
			t.Fatalf("flow %d datagram %d: %d bytes %x..., want %d bytes %x...", flow, i, len(got[i]), prefix(got[i]), len(nonEmpty[i]), prefix(nonEmpty[i]))
		}
	}
}

// TestRelayKeepsOrderThroughBatches pushes bursts of ChannelData through
// one allocation to two peers, so that the listener reads them in batches
// and the relay socket sends them in batches: every datagram arrives,
// intact and in order, and is counted once.
func TestRelayKeepsOrderThroughBatches(t *testing.T) {
	h := startService(t, testConfig(loopbackAllowed, func(c *Config) {
		c.BandwidthBitsPerSecond, c.UDPListeners = 0, 1
	}))
	user, pass := h.credentials(t, testARN, "burst")
	client := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass)
	if _, code := client.allocate(17, false); code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	peers := []*recordingPeer{newRecordingPeer(t, "udp4", "127.0.0.1"), newRecordingPeer(t, "udp4", "127.0.0.1")}
	for i, p := range peers {
		ap := p.addrPort()
		if code := client.channelBind(0x4000+uint16(i), v4(ap.Addr().String(), int(ap.Port()))); code != 0 { //nolint:gosec // two channels
			t.Fatalf("channel bind %d: %d", i, code)
		}
	}
	want := make([][][]byte, len(peers))
	const rounds, burst = 10, 40
	for range rounds {
		for i := range burst {
			flow := (i / 5) % 2
			d := testDatagram(uint32(flow), uint32(len(want[flow])), []int{1000, 1000, 1000, 300}[i%4]) //nolint:gosec // small
			client.write(channelDataOf(0x4000+uint16(flow), d))                                         //nolint:gosec // two channels
			want[flow] = append(want[flow], d)
		}
		for flow, p := range peers {
			p.waitFlow(t, flow, want[flow])
		}
	}
	if got := h.counter(t, "switchboard_turn_relayed_packets_total", "relay", relayUDP, "direction", toPeer); got != rounds*burst {
		t.Errorf("relayed packets = %v, want %d", got, rounds*burst)
	}
	if got := h.counter(t, "switchboard_turn_refusals_total", "reason", reasonSendError); got != 0 {
		t.Errorf("send errors = %v, want 0", got)
	}
}

// channelDataOf frames data as a TURN ChannelData message (no padding, as
// over UDP).
func channelDataOf(channel uint16, data []byte) []byte {
	b := make([]byte, 4, 4+len(data))
	binary.BigEndian.PutUint16(b, channel)
	binary.BigEndian.PutUint16(b[2:], uint16(len(data))) //nolint:gosec // below 64 KiB
	return append(b, data...)
}
