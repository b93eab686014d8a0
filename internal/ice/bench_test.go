package ice

import (
	"testing"
	"time"
)

// BenchmarkRelayUDP pushes 1000-byte datagrams from a pion TURN client
// through one UDP allocation to a loopback peer (no bandwidth cap) and
// reports what reached the peer. Run with:
//
//	go test -run '^$' -bench RelayUDP ./internal/ice/
func BenchmarkRelayUDP(b *testing.B) {
	h := startService(b, testConfig(loopbackAllowed, func(c *Config) { c.BandwidthBitsPerSecond = 0 }))
	user, pass := h.credentials(b, testARN, "bench")
	client := newPionClient(b, "udp", h.svc.Addrs().UDP, user, pass)
	relay, err := client.Allocate()
	if err != nil {
		b.Fatal(err)
	}
	defer relay.Close()
	peer := newUDPPeer(b, false)
	payload := make([]byte, 1000)
	if _, err := relay.WriteTo(payload, peer.addr()); err != nil { // permission and channel binding
		b.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for range b.N {
		if _, err := relay.WriteTo(payload, peer.addr()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	time.Sleep(100 * time.Millisecond)
	b.ReportMetric(float64(peer.received.Load())/float64(len(payload)*(b.N+1)), "delivered/sent")
}
