//go:build linux

package ice

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"
)

func TestBatchConnReadsInBatches(t *testing.T) {
	for _, fam := range loopbackFamilies {
		t.Run(fam.name, func(t *testing.T) {
			srv := listenBatch(t, fam.network, fam.host)
			bc, ok := srv.(*batchConn)
			if !ok {
				t.Fatalf("listener is a %T, want a *batchConn", srv)
			}
			c := dialUDP(t, fam.network, srv.LocalAddr())
			const queued = 50
			for seq := range uint32(queued) {
				if _, err := c.Write(testDatagram(0, seq, 200)); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 1600)
			waitQueued(t, srv, buf)
			if bc.count != queued {
				t.Fatalf("one recvmmsg took %d datagrams, want all %d queued", bc.count, queued)
			}
			// A known source costs no allocation: every datagram of the
			// batch gets the same cached address.
			_, want, _ := srv.ReadFrom(buf)
			allocs := testing.AllocsPerRun(queued-3, func() {
				if _, addr, err := srv.ReadFrom(buf); err != nil || addr != want {
					t.Fatalf("ReadFrom from the batch: %v, %v", addr, err)
				}
			})
			if allocs != 0 {
				t.Errorf("ReadFrom from the batch: %.1f allocations, want 0", allocs)
			}
			if len(bc.addrs.m) != 1 {
				t.Errorf("address cache holds %d sources, want 1", len(bc.addrs.m))
			}
		})
	}
}

// testRelays is the part of relays a sendBatch uses, with its counters.
func testRelays(t *testing.T) *relays {
	t.Helper()
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &relays{metrics: m, log: testLogger(t)}
	r.flows.udpOut = m.flow(relayUDP, toPeer)
	r.sendErrors = m.refusals.WithLabelValues(reasonSendError)
	return r
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// sendFixture is a sendBatch with relay sockets (senders) on a loopback
// address and peers that record what they receive.
type sendFixture struct {
	r       *relays
	batch   *sendBatch
	relays  []*net.UDPConn
	senders []*relaySender
	peers   []*recordingPeer
}

func newSendFixture(t *testing.T, network, host string, relayCount, peerCount int) *sendFixture {
	t.Helper()
	f := &sendFixture{r: testRelays(t)}
	f.batch = newSendBatch(f.r)
	alloc := &relayAlloc{cred: credential{Username: "test"}}
	for range relayCount {
		c := listenUDPOn(t, network, host)
		s := f.batch.newSender(c, alloc)
		if s == nil {
			t.Fatal("no batched send path for a UDP socket")
		}
		f.relays, f.senders = append(f.relays, c), append(f.senders, s)
	}
	for range peerCount {
		f.peers = append(f.peers, newRecordingPeer(t, network, host))
	}
	return f
}

// queue queues one datagram as a relay write during a batch would.
func (f *sendFixture) queue(t *testing.T, sender, peer int, d []byte) {
	t.Helper()
	f.batch.setActive(true)
	if !f.senders[sender].queue(d, f.peers[peer].addrPort()) {
		t.Fatal("datagram not queued during a batch")
	}
}

func TestSendBatchQueuesOnlyDuringABatch(t *testing.T) {
	f := newSendFixture(t, "udp4", "127.0.0.1", 1, 1)
	s, peer := f.senders[0], f.peers[0].addrPort()
	if s.queue([]byte("direct"), peer) {
		t.Fatal("queued outside a batch")
	}
	f.batch.setActive(true)
	d := []byte("queued")
	if !s.queue(d, peer) {
		t.Fatal("not queued during a batch")
	}
	copy(d, "XXXXXX") // the queue holds its own copy
	f.batch.setActive(false)
	if !s.queue([]byte("behind"), peer) {
		t.Fatal("sent directly while an earlier datagram of the socket waits")
	}
	f.batch.flush()
	f.peers[0].waitReceived(t, [][]byte{[]byte("queued"), []byte("behind")})
	if s.queue([]byte("after"), peer) {
		t.Fatal("queued after the flush")
	}
	if got := counterValue(t, f.r.flows.udpOut.packets); got != 2 {
		t.Fatalf("relayed packets = %v, want 2", got)
	}
}

func TestSendBatchKeepsOrderPerFlow(t *testing.T) {
	for _, fam := range loopbackFamilies {
		t.Run(fam.name, func(t *testing.T) {
			f := newSendFixture(t, fam.network, fam.host, 2, 2)
			// Two relay sockets, two peers each, interleaved; runs of equal
			// sizes (merged with GSO), shorter tails and empty datagrams.
			want := make([][][]byte, 4) // by flow: relay*2 + peer
			var bytesSent int
			for round := range 6 {
				for i := range 40 {
					flow := (i/3 + round) % 4
					size := []int{1200, 1200, 700, 0, 1200, 64}[(i+round)%6]
					d := testDatagram(uint32(flow), uint32(len(want[flow])), max(size, 8)) //nolint:gosec // small
					if size == 0 {
						d = nil
					}
					f.queue(t, flow/2, flow%2, d)
					want[flow] = append(want[flow], d)
					bytesSent += len(d)
				}
				f.batch.flush()
			}
			for flow, w := range want {
				f.peers[flow%2].waitFlow(t, flow, w)
			}
			if got := counterValue(t, f.r.flows.udpOut.packets); got != 240 {
				t.Errorf("relayed packets = %v, want 240", got)
			}
			if got := counterValue(t, f.r.flows.udpOut.bytes); got != float64(bytesSent) {
				t.Errorf("relayed bytes = %v, want %d", got, bytesSent)
			}
			if got := counterValue(t, f.r.sendErrors); got != 0 {
				t.Errorf("send errors = %v, want 0", got)
			}
			for i, s := range f.senders {
				if s.noGSO {
					t.Errorf("relay socket %d: GSO refused on loopback", i)
				}
			}
		})
	}
}

func TestSendBatchFallsBackWithoutGSO(t *testing.T) {
	f := newSendFixture(t, "udp4", "127.0.0.1", 1, 1)
	// A socket without UDP checksums cannot use GSO: the kernel refuses.
	raw, err := f.relays[0].SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var optErr error
	if err := raw.Control(func(fd uintptr) { optErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1) }); err != nil || optErr != nil {
		t.Skipf("SO_NO_CHECK: %v %v", err, optErr)
	}
	var want [][]byte
	for seq := range uint32(10) {
		d := testDatagram(0, seq, 500)
		f.queue(t, 0, 0, d)
		want = append(want, d)
	}
	f.batch.flush()
	f.peers[0].waitReceived(t, want)
	if !f.senders[0].noGSO {
		t.Error("GSO still on for a socket that refused it")
	}
	if got := counterValue(t, f.r.sendErrors); got != 0 {
		t.Errorf("send errors = %v, want 0", got)
	}
}

func TestSendBatchCountsDrops(t *testing.T) {
	f := newSendFixture(t, "udp4", "127.0.0.1", 2, 1)
	for seq := range uint32(3) {
		f.queue(t, 0, 0, testDatagram(0, seq, 100))
		f.queue(t, 1, 0, testDatagram(1, seq, 100))
	}
	_ = f.relays[0].Close() // its allocation ended meanwhile
	f.batch.flush()
	if got := counterValue(t, f.r.sendErrors); got != 3 {
		t.Errorf("send errors = %v, want 3", got)
	}
	waitFor(t, 5*time.Second, "the open socket's datagrams", func() bool { return len(f.peers[0].received()) == 3 })
	if got := counterValue(t, f.r.flows.udpOut.packets); got != 3 {
		t.Errorf("relayed packets = %v, want 3", got)
	}
}

func TestSendBatchLeavesForeignFamilyToDirectWrites(t *testing.T) {
	f := newSendFixture(t, "udp4", "127.0.0.1", 1, 1)
	f.batch.setActive(true)
	if f.senders[0].queue([]byte("x"), netip.MustParseAddrPort("[::1]:9")) {
		t.Fatal("an IPv6 peer was queued on an IPv4 socket")
	}
}

func TestGSORuns(t *testing.T) {
	peerA, peerB := netip.MustParseAddrPort("127.0.0.1:1000"), netip.MustParseAddrPort("127.0.0.1:1001")
	cases := []struct {
		name  string
		sizes []int
		peers []netip.AddrPort // by datagram; nil: all to peerA
		want  []int            // datagrams per message
	}{
		{"equal sizes", []int{100, 100, 100}, nil, []int{3}},
		{"shorter tail ends a run", []int{100, 100, 50, 100, 100}, nil, []int{3, 2}},
		{"longer datagram starts a run", []int{50, 100, 100}, nil, []int{1, 2}},
		{"empty datagrams stand alone", []int{0, 100, 0, 100}, nil, []int{1, 1, 1, 1}},
		{"peer change ends a run", []int{100, 100, 100}, []netip.AddrPort{peerA, peerB, peerB}, []int{1, 2}},
		{"segment limit", repeat(100, 70), nil, []int{64, 6}},
		{"byte limit", repeat(1200, 60), nil, []int{54, 6}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var q sendQueue
			idx := make([]int32, len(tc.sizes))
			for i, size := range tc.sizes {
				peer := peerA
				if tc.peers != nil {
					peer = tc.peers[i]
				}
				item := queuedDatagram{off: len(q.data), n: size}
				encodeSockaddr(&item, peer, unix.AF_INET)
				q.data = append(q.data, make([]byte, size)...)
				q.items = append(q.items, item)
				idx[i] = int32(i) //nolint:gosec // small
			}
			var p sendPlan
			k := p.build(&q, idx, true)
			var got []int
			for _, m := range p.msgs[:k] {
				got = append(got, m.segs)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("datagrams per message %v, want %v", got, tc.want)
			}
		})
	}
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}
