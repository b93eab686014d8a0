package ice

import (
	"errors"
	"net"
	"strconv"
	"testing"

	"github.com/pion/stun/v4"
)

// TestCandidatePortsStayInRange checks that a requested port outside the
// configured range is refused, and that without a range any is tried.
func TestCandidatePortsStayInRange(t *testing.T) {
	ranged := &relays{portMin: 50000, portMax: 50010}
	for _, port := range []int{49999, 50011, 65535} {
		if ports, err := ranged.candidatePorts(port); !errors.Is(err, ErrNoRelayPort) || ports != nil {
			t.Errorf("port %d outside 50000-50010: %v, %v", port, ports, err)
		}
	}
	for _, port := range []int{50000, 50005, 50010} {
		if ports, err := ranged.candidatePorts(port); err != nil || len(ports) != 1 || ports[0] != port {
			t.Errorf("port %d inside the range: %v, %v", port, ports, err)
		}
	}
	ports, err := ranged.candidatePorts(0)
	if err != nil || len(ports) == 0 {
		t.Fatalf("no port requested: %v, %v", ports, err)
	}
	for _, p := range ports {
		if p < 50000 || p > 50010 {
			t.Fatalf("random port %d outside the range", p)
		}
	}
	if ports, err := (&relays{}).candidatePorts(40000); err != nil || len(ports) != 1 || ports[0] != 40000 {
		t.Fatalf("no range configured: %v, %v", ports, err)
	}
}

// TestEvenPortReservationStaysInRange configures a relay range of one even
// port P. An Allocate with EVEN-PORT gets P and a reservation token for
// P+1; the Allocate that redeems the token must be refused (508), not
// given P+1, which the operator never opened. Both go over TCP so that they
// reach the same pion allocation manager.
func TestEvenPortReservationStaysInRange(t *testing.T) {
	port := freeEvenPortPair(t)
	h := startService(t, testConfig(func(c *Config) { c.RelayPortMin, c.RelayPortMax = port, port }))
	user, pass := h.credentials(t, testARN, "even")

	first := dialRawTURN(t, "tcp", h.svc.Addrs().TCP, user, pass)
	res := first.request(stun.MethodAllocate, requestedTransport(17), attr{stun.AttrEvenPort, []byte{0x80}})
	if code := errorCode(res); code != 0 {
		t.Fatalf("Allocate with EVEN-PORT: error %d", code)
	}
	var relayed stun.XORMappedAddress
	if err := relayed.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil || relayed.Port != port {
		t.Fatalf("relayed address %v (%v), want port %d", relayed, err, port)
	}
	token, err := res.Get(stun.AttrReservationToken)
	if err != nil {
		t.Fatalf("no reservation token: %v", err)
	}

	second := dialRawTURN(t, "tcp", h.svc.Addrs().TCP, user, pass)
	res = second.request(stun.MethodAllocate, requestedTransport(17), attr{stun.AttrReservationToken, token})
	if code := errorCode(res); code != 508 {
		var got stun.XORMappedAddress
		_ = got.GetFromAs(res, stun.AttrXORRelayedAddress)
		t.Fatalf("Allocate with the reservation token: error %d, relayed %v; want 508", code, got)
	}
	if perCred, _, _ := h.svc.quotas.live(mustParse(t, user)); perCred != 1 {
		t.Fatalf("%d allocations counted against the credential, want 1", perCred)
	}
}

// freeEvenPortPair finds an even UDP port P on 127.0.0.1 such that P and
// P+1 are both free.
func freeEvenPortPair(t *testing.T) int {
	t.Helper()
	for range 100 {
		probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := probe.LocalAddr().(*net.UDPAddr).Port &^ 1
		_ = probe.Close()
		a, errA := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(p))
		b, errB := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(p+1))
		for _, c := range []net.PacketConn{a, b} {
			if c != nil {
				_ = c.Close()
			}
		}
		if errA == nil && errB == nil && p > 0 {
			return p
		}
	}
	t.Fatal("no free pair of UDP ports")
	return 0
}
