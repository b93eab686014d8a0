package netpark

import (
	"crypto/tls"
	"errors"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// BenchmarkParkedIdle reports the memory per idle TLS connection held two
// ways: parked (nonblocking, watched by a Poller, no goroutine) and the
// classic way (a goroutine blocked in tls.Conn.Read). Each figure is the
// growth of HeapInuse+StackInuse over the connections' setup, divided by
// their number, after a GC. It covers both TCP ends (the clients live in
// this process, but keep only their TCP conn) and the server's tls.Conn.
// Informational only; run it alone, for example:
//
//	go test -run '^$' -bench ParkedIdle -benchtime 1x ./internal/netpark/
func BenchmarkParkedIdle(b *testing.B) {
	const conns = 2000
	for range b.N {
		parked := idleMemory(b, conns, true)
		blocked := idleMemory(b, conns, false)
		b.ReportMetric(parked, "parked-B/conn")
		b.ReportMetric(blocked, "blocked-B/conn")
		b.Logf("%d idle TLS connections: parked %.0f B/conn, goroutine-blocked %.0f B/conn (parked/blocked %.2f)",
			conns, parked, blocked, parked/blocked)
	}
}

// idleMemory sets up n handshaken TLS connections, idle on the server side
// in the chosen way, and returns the memory they added per connection.
func idleMemory(b *testing.B, n int, park bool) float64 {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var p *Poller
	if park {
		p = newPoller(b)
		ln = NewListener(ln)
	}
	before := memInUse()

	var readers sync.WaitGroup
	closers := make([]net.Conn, 0, 2*n)
	servers := make([]*tls.Conn, 0, n) // what a hub keeps per connection
	for range n {
		sc, cc := acceptDial(b, ln)
		srv, _ := handshake(b, sc, cc) // the client's tls.Conn is dropped
		closers = append(closers, sc, cc)
		servers = append(servers, srv)
		if park {
			parkTLS(b, p, sc.(*Conn), srv)
			continue
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			srv.Read(make([]byte, 1)) // blocks until closed
		}()
	}
	after := memInUse()
	runtime.KeepAlive(servers)

	for _, c := range closers {
		c.Close()
	}
	readers.Wait()
	if p != nil {
		p.Close()
	}
	return float64(after-before) / float64(n)
}

// parkTLS reads srv until ErrWouldBlock and parks its connection.
func parkTLS(b *testing.B, p *Poller, pc *Conn, srv *tls.Conn) {
	pc.SetNonblocking(true)
	if _, err := srv.Read(make([]byte, 1)); !errors.Is(err, ErrWouldBlock) {
		b.Fatalf("idle read: %v", err)
	}
	if err := p.Watch(pc, func() {}); err != nil {
		b.Fatal(err)
	}
}

func acceptDial(b *testing.B, ln net.Listener) (net.Conn, net.Conn) {
	cc, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	return sc, cc
}

// memInUse returns HeapInuse+StackInuse after collecting garbage.
func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// BenchmarkEmptyRead measures the read a busy connection makes after each
// message to learn that its socket is empty: a nonblocking Read that
// returns ErrWouldBlock. The "syscall-floor" case is the cheapest system
// call there is (getppid), for the machine's own cost of entering and
// leaving the kernel; docs/benchmarks.md compares the two. For example:
//
//	go test -run '^$' -bench EmptyRead ./internal/netpark/
func BenchmarkEmptyRead(b *testing.B) {
	b.Run("would-block", func(b *testing.B) {
		pc, _ := pair(b, listen(b, loopbacks[0]))
		pc.SetNonblocking(true)
		buf := make([]byte, 512)
		for b.Loop() {
			if _, err := pc.Read(buf); !errors.Is(err, ErrWouldBlock) {
				b.Fatalf("read of an empty socket: %v", err)
			}
		}
	})
	b.Run("syscall-floor", func(b *testing.B) {
		for b.Loop() {
			_ = syscall.Getppid()
		}
	})
}
