//go:build linux

package ice

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// clientFixture is a listener read in batches, a client it has heard
// from, and the relay socket of that client's allocation, read in batches,
// with a peer writing to it.
type clientFixture struct {
	r        *relays
	listener *batchConn
	client   *recordingPeer
	relay    *batchConn
	toClient *relaySender
	peer     *net.UDPConn
}

func newClientFixture(t *testing.T, network, host string) *clientFixture {
	t.Helper()
	f := &clientFixture{r: testRelays(t)}
	_, f.listener = newBatchConn(listenUDPOn(t, network, host), f.r)
	f.client = newRecordingPeer(t, network, host)
	// The listener hears from the client, as when pion handles its
	// Allocate request.
	if _, err := f.client.conn.WriteTo([]byte("allocate"), f.listener.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	readOne(t, f.listener, make([]byte, 1600))
	reader, toClient := f.listener.relayReader(listenUDPOn(t, network, host))
	if toClient == nil {
		t.Fatal("no client queue for a relay socket")
	}
	toClient.attach(&relayAlloc{cred: credential{Username: "test"}})
	f.relay, f.toClient = reader.(*batchConn), toClient //nolint:forcetypeassert // a UDP relay socket
	t.Cleanup(func() { _ = f.relay.Close() })
	f.peer = dialUDP(t, network, f.relay.LocalAddr())
	return f
}

// clientAddr is the client's address as pion writes to it.
func (f *clientFixture) clientAddr() net.Addr { return f.client.conn.LocalAddr() }

// peerSends writes n datagrams of size bytes to the relay socket and gives
// the kernel time to queue them all.
func (f *clientFixture) peerSends(t *testing.T, n, size int) {
	t.Helper()
	for seq := range uint32(n) { //nolint:gosec // small
		if _, err := f.peer.Write(testDatagram(0, seq, size)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
}

// relay reads the next datagram from the relay socket and writes it to
// the client through the listener, as pion's allocation loop does.
func (f *clientFixture) relayOne(t *testing.T, buf []byte) []byte {
	t.Helper()
	n, _ := readOne(t, f.relay, buf)
	d := channelDataOf(0x4000, buf[:n])
	if _, err := f.listener.WriteTo(d, f.clientAddr()); err != nil {
		t.Fatal(err)
	}
	return d
}

// drain makes the relay socket's reader flush: it reads again and finds
// nothing before its deadline.
func (f *clientFixture) drain(t *testing.T) {
	t.Helper()
	_ = f.relay.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := f.relay.ReadFrom(make([]byte, 1600)); err == nil {
		t.Fatal("a datagram nobody sent")
	}
	_ = f.relay.SetReadDeadline(time.Time{})
}

func TestRelayReaderBatchesWritesToClient(t *testing.T) {
	for _, fam := range loopbackFamilies {
		t.Run(fam.name, func(t *testing.T) {
			f := newClientFixture(t, fam.network, fam.host)
			const total = 20
			f.peerSends(t, total, 300)
			buf := make([]byte, 1600)
			want := [][]byte{f.relayOne(t, buf)}
			if f.relay.count != relayRecvStart {
				t.Fatalf("first recvmmsg took %d datagrams, want %d", f.relay.count, relayRecvStart)
			}
			time.Sleep(20 * time.Millisecond)
			if got := len(f.client.received()); got != 0 {
				t.Fatalf("client got %d datagrams while the batch was handed out, want 0", got)
			}
			// Another write to the client (pion answering a request) waits
			// behind the queued ones.
			other := []byte("a STUN answer")
			if _, err := f.listener.WriteTo(other, f.clientAddr()); err != nil {
				t.Fatal(err)
			}
			want = append(want, other)
			for len(want) < total+1 {
				want = append(want, f.relayOne(t, buf))
			}
			if f.relay.slots.want != 2*relayRecvStart {
				t.Errorf("a full batch left %d slots, want %d", f.relay.slots.want, 2*relayRecvStart)
			}
			f.drain(t)
			f.client.waitReceived(t, want)
			// The second batch (12 equal datagrams) left in one GSO message.
			if m := f.toClient.batch.plan.msgs[0]; m.segs != total-relayRecvStart || f.toClient.noGSO {
				t.Errorf("last flush: first message carried %d datagrams (GSO off: %v), want %d", m.segs, f.toClient.noGSO, total-relayRecvStart)
			}
			if got := counterValue(t, f.r.sendErrors); got != 0 {
				t.Errorf("send errors = %v, want 0", got)
			}
			// Outside a batch, writes go at once.
			if _, err := f.listener.WriteTo([]byte("direct"), f.clientAddr()); err != nil {
				t.Fatal(err)
			}
			f.client.waitReceived(t, append(want, []byte("direct")))
		})
	}
}

func TestRelayReaderCloseWhileBlocked(t *testing.T) {
	f := newClientFixture(t, "udp4", "127.0.0.1")
	errc := make(chan error, 1)
	go func() {
		_, _, err := f.relay.ReadFrom(make([]byte, 1600))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_ = f.relay.Close()
	select {
	case err := <-errc:
		if !isClosedErr(err) {
			t.Fatalf("blocked ReadFrom returned %v, want a closed error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrom still blocked after Close")
	}
	ap := f.clientAddr().(*net.UDPAddr).AddrPort() //nolint:forcetypeassert // UDP
	if f.listener.clients.lookup(ap) != nil {
		t.Error("the closed allocation's client route is still there")
	}
}

func TestRelayReaderCloseFlushesQueued(t *testing.T) {
	f := newClientFixture(t, "udp6", "::1")
	f.peerSends(t, 3, 100)
	buf := make([]byte, 1600)
	want := [][]byte{f.relayOne(t, buf), f.relayOne(t, buf)} // one datagram left
	_ = f.relay.Close()
	if _, _, err := f.relay.ReadFrom(buf); !isClosedErr(err) {
		t.Fatalf("ReadFrom after Close: %v, want a closed error", err)
	}
	f.client.waitReceived(t, want)
}

func TestRelayReaderCountsClientSendErrors(t *testing.T) {
	f := newClientFixture(t, "udp4", "127.0.0.1")
	f.peerSends(t, 4, 100)
	buf := make([]byte, 1600)
	for range 3 {
		f.relayOne(t, buf)
	}
	_ = f.listener.conn.Close() // the listener went away meanwhile
	readOne(t, f.relay, buf)
	f.drain(t)
	if got := counterValue(t, f.r.sendErrors); got != 3 {
		t.Errorf("send errors = %v, want 3", got)
	}
}

// TestRelayToClientThroughBatches pushes bursts from two peers through
// one allocation to its client, so that the relay socket is read in
// batches and the listener writes to the client in batches: every
// datagram arrives as ChannelData, intact and in order per peer, and is
// counted once.
func TestRelayToClientThroughBatches(t *testing.T) {
	h := startService(t, testConfig(loopbackAllowed, func(c *Config) {
		c.BandwidthBitsPerSecond, c.UDPListeners = 0, 1
	}))
	user, pass := h.credentials(t, testARN, "burst")
	client := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass)
	relayed, code := client.allocate(17, false)
	if code != 0 {
		t.Fatalf("allocate: %d", code)
	}
	peers := []*net.UDPConn{listenUDPOn(t, "udp4", "127.0.0.1"), listenUDPOn(t, "udp4", "127.0.0.1")}
	for i, p := range peers {
		ap := p.LocalAddr().(*net.UDPAddr).AddrPort()                                                        //nolint:forcetypeassert // UDP
		if code := client.channelBind(0x4000+uint16(i), v4(ap.Addr().String(), int(ap.Port()))); code != 0 { //nolint:gosec // two channels
			t.Fatalf("channel bind %d: %d", i, code)
		}
	}
	const rounds, burst = 10, 40
	next, arrived := make([]uint32, len(peers)), make([]uint32, len(peers))
	buf := make([]byte, 2048)
	for range rounds {
		for i := range burst {
			flow := (i / 5) % 2
			d := testDatagram(uint32(flow), next[flow], []int{1000, 1000, 1000, 300}[i%4]) //nolint:gosec // small
			next[flow]++
			if _, err := peers[flow].WriteTo(d, relayed); err != nil {
				t.Fatal(err)
			}
		}
		for range burst {
			checkClientData(t, client, buf, arrived)
		}
	}
	if got := h.counter(t, "switchboard_turn_relayed_packets_total", "relay", relayUDP, "direction", fromPeer); got != rounds*burst {
		t.Errorf("relayed packets = %v, want %d", got, rounds*burst)
	}
	if got := h.counter(t, "switchboard_turn_refusals_total", "reason", reasonSendError); got != 0 {
		t.Errorf("send errors = %v, want 0", got)
	}
}

// checkClientData reads one ChannelData message at the client and checks
// that it is the next datagram of its peer's flow, intact; arrived is the
// next sequence number expected per flow.
func checkClientData(t *testing.T, client *rawTURN, buf []byte, arrived []uint32) {
	t.Helper()
	_ = client.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := client.conn.Read(buf)
	if err != nil {
		t.Fatalf("client read: %v", err)
	}
	if n < 4+8 {
		t.Fatalf("client got %d bytes, want ChannelData", n)
	}
	channel, size := binary.BigEndian.Uint16(buf), int(binary.BigEndian.Uint16(buf[2:]))
	data := buf[4 : 4+size]
	flow, seq := binary.BigEndian.Uint32(data), binary.BigEndian.Uint32(data[4:])
	if int(channel)-0x4000 != int(flow) || flow >= uint32(len(arrived)) { //nolint:gosec // small
		t.Fatalf("datagram of flow %d on channel %#x", flow, channel)
	}
	if !bytes.Equal(data, testDatagram(flow, seq, size)) {
		t.Fatalf("flow %d datagram %d corrupted", flow, seq)
	}
	if seq != arrived[flow] {
		t.Fatalf("flow %d: datagram %d arrived, want %d (reordered or lost)", flow, seq, arrived[flow])
	}
	arrived[flow]++
}
