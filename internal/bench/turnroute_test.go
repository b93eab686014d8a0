package bench

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// TestTURNMisroutedToPeer: client to peer, a packet that reaches another
// allocation's peer, or comes from another allocation's relayed address,
// counts as misrouted and fails the run's check; before, only peer to
// client was checked, and such a packet was at most "lost". Two loopback
// sockets stand in for the relayed addresses and send what a relay would
// send to the sinks.
func TestTURNMisroutedToPeer(t *testing.T) {
	var sinks []*turnSink
	var allocs []*turnAlloc
	for id := range uint32(2) {
		s, err := newSink()
		if err != nil {
			t.Fatal(err)
		}
		sinks = append(sinks, s)
		own, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		relay, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		a := &turnAlloc{id: id, conn: own, relay: relay, seq: 2}
		a.aim(clientToPeer, s)
		allocs = append(allocs, a)
	}
	send := func(from, to int, id, seq uint32) {
		b := make([]byte, 200)
		binary.BigEndian.PutUint32(b[0:], id)
		binary.BigEndian.PutUint32(b[4:], seq)
		if _, err := allocs[from].relay.WriteTo(b, sinks[to].addr()); err != nil {
			t.Fatal(err)
		}
	}
	send(0, 0, 0, 0) // allocation 0 to its peer: right
	send(0, 1, 0, 1) // allocation 0 to allocation 1's peer
	send(0, 1, 1, 0) // allocation 1's packet out of allocation 0's relayed address
	send(1, 1, 1, 1) // allocation 1 to its peer: right
	for deadline := time.Now().Add(10 * time.Second); sinks[0].count.received.Load()+sinks[1].count.received.Load() < 4; {
		if time.Now().After(deadline) {
			t.Fatal("the sinks did not receive the 4 packets sent on loopback")
		}
		time.Sleep(5 * time.Millisecond)
	}
	run := &turnRun{Target: "relay", Size: 200}
	tallyTURN(run, clientToPeer, allocs, sinks)
	if run.Misrouted != 2 || run.Lost != 1 || run.Duplicates != 0 || run.Sent != 4 {
		t.Errorf("4 sent, 1 to the wrong peer, 1 from the wrong relayed address: got %d sent, %d misrouted, %d lost, %d duplicated; want 4, 2, 1, 0",
			run.Sent, run.Misrouted, run.Lost, run.Duplicates)
	}
	rep := newReport("turn", Options{Smoke: true})
	reportTURN(rep, Options{Smoke: true, Out: t.TempDir()}, []*turnRun{run})
	for _, c := range rep.Checks {
		if c.Name == "relay 200B: relayed, no duplicates" && c.OK {
			t.Errorf("check %q passed with misrouted packets: %s", c.Name, c.Detail)
		}
	}
}
