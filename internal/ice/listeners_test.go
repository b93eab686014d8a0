package ice

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestUDPListenersShareThePort checks the throughput layout: several
// sockets on one port, and no silent sharing with a second server.
func TestUDPListenersShareThePort(t *testing.T) {
	if !reusePortSupported {
		t.Skip("no SO_REUSEPORT here")
	}
	conns, err := listenUDP(context.Background(), "127.0.0.1:0", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(conns)
	if len(conns) != 4 {
		t.Fatalf("%d sockets", len(conns))
	}
	port := conns[0].LocalAddr().(*net.UDPAddr).Port
	for _, c := range conns[1:] {
		if c.LocalAddr().(*net.UDPAddr).Port != port {
			t.Fatalf("sockets on ports %v and %v", port, c.LocalAddr())
		}
	}
	if other, err := listenUDP(context.Background(), conns[0].LocalAddr().String(), 2); err == nil {
		closeAll(other)
		t.Fatal("a second server joined the port")
	}
	// Clients spread over the sockets: every socket can receive.
	got := make(chan int, 64)
	for i, c := range conns {
		go func() {
			buf := make([]byte, 16)
			for {
				if _, _, err := c.ReadFrom(buf); err != nil {
					return
				}
				got <- i
			}
		}()
	}
	seen := map[int]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for len(seen) < 2 && time.Now().Before(deadline) {
		client, err := net.Dial("udp4", conns[0].LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = client.Write([]byte("x"))
		select {
		case i := <-got:
			seen[i] = true
		case <-time.After(time.Second):
		}
		_ = client.Close()
	}
	if len(seen) < 2 {
		t.Fatalf("all clients landed on one socket: %v", seen)
	}
}

func TestTrackerWaits(t *testing.T) {
	tr := newTracker()
	done1, done2 := tr.start(), tr.start()
	done1()
	done1() // idempotent
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if left := tr.wait(ctx); left != 1 {
		t.Fatalf("%d left, want 1", left)
	}
	go done2()
	if left := tr.wait(context.Background()); left != 0 {
		t.Fatalf("%d left", left)
	}
}
