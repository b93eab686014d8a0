package netpark

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testcert"
)

// waitTimeout bounds every wait for an event; it is generous so that a
// loaded machine never fails a test, and no test asserts on time.
const waitTimeout = 10 * time.Second

type loopback struct {
	name, network, addr string
}

// loopbacks are the only addresses the tests use.
var loopbacks = []loopback{
	{"ipv4", "tcp4", "127.0.0.1:0"},
	{"ipv6", "tcp6", "[::1]:0"},
}

// listen returns a netpark listener on lb, closed at cleanup. A machine
// without an IPv6 loopback skips the IPv6 cases.
func listen(tb testing.TB, lb loopback) net.Listener {
	tb.Helper()
	if !supported {
		tb.Skip("netpark needs a unix system")
	}
	ln, err := net.Listen(lb.network, lb.addr)
	if err != nil {
		if lb.network == "tcp6" {
			tb.Skipf("no IPv6 loopback: %v", err)
		}
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return NewListener(ln)
}

// pair dials ln and returns the accepted (wrapped) side and the client
// side; both are closed at cleanup.
func pair(tb testing.TB, ln net.Listener) (*Conn, *net.TCPConn) {
	tb.Helper()
	cc, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close() })
	sc, err := ln.Accept() // the kernel finished the handshake: no wait
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sc.Close() })
	pc, ok := sc.(*Conn)
	if !ok {
		tb.Fatalf("Accept returned %T, want *Conn", sc)
	}
	return pc, cc.(*net.TCPConn)
}

// newPoller returns a Poller closed at cleanup.
func newPoller(tb testing.TB) *Poller {
	tb.Helper()
	p, err := NewPoller()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

// waitFor waits for ch to close or yield, failing after waitTimeout.
func waitFor[T any](tb testing.TB, ch <-chan T, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		tb.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
	}
}

// watchCh arms a watch whose ready closes the returned channel; a second
// call of ready would panic on the double close.
func watchCh(tb testing.TB, p *Poller, c *Conn) <-chan struct{} {
	tb.Helper()
	ch := make(chan struct{})
	if err := p.Watch(c, func() { close(ch) }); err != nil {
		tb.Fatalf("Watch: %v", err)
	}
	return ch
}

// readParked reads exactly n bytes from r (c itself, or a reader stacked
// on c) the way a parking server does: read until ErrWouldBlock, watch,
// and read again when the watch fires.
func readParked(tb testing.TB, p *Poller, c *Conn, r io.Reader, n int) []byte {
	tb.Helper()
	got := make([]byte, 0, n)
	buf := make([]byte, 4096)
	for len(got) < n {
		m, err := r.Read(buf[:min(len(buf), n-len(got))])
		got = append(got, buf[:m]...)
		switch {
		case errors.Is(err, ErrWouldBlock):
			if len(got) < n {
				waitFor(tb, watchCh(tb, p, c), "the socket to become readable")
			}
		case err != nil:
			tb.Fatalf("read after %d of %d bytes: %v", len(got), n, err)
		}
	}
	return got
}

// readParkedErr reads in the parked way until a read fails with something
// other than ErrWouldBlock, and returns that error; data is not expected.
func readParkedErr(tb testing.TB, p *Poller, c *Conn, r io.Reader) error {
	tb.Helper()
	buf := make([]byte, 64)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			tb.Fatalf("unexpected data %q", buf[:n])
		}
		if !errors.Is(err, ErrWouldBlock) {
			return err
		}
		waitFor(tb, watchCh(tb, p, c), "the socket to become readable")
	}
}

// testPKI is one test certificate, shared by every test in the package.
var testPKI = sync.OnceValues(func() (*tls.Config, error) {
	cert, roots, err := testcert.New()
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: "localhost"}, nil
})

// tlsConfig returns the shared config: it serves the test certificate and
// trusts only it.
func tlsConfig(tb testing.TB) *tls.Config {
	tb.Helper()
	cfg, err := testPKI()
	if err != nil {
		tb.Fatal(err)
	}
	return cfg.Clone()
}

// handshake runs a TLS handshake between server conn s and client conn c
// in blocking mode, both sides at once.
func handshake(tb testing.TB, s, c net.Conn) (srv, cli *tls.Conn) {
	tb.Helper()
	cfg := tlsConfig(tb)
	srv, cli = tls.Server(s, cfg), tls.Client(c, cfg)
	deadline := time.Now().Add(waitTimeout)
	srv.SetDeadline(deadline)
	cli.SetDeadline(deadline)
	errc := make(chan error, 1)
	go func() { errc <- cli.Handshake() }()
	if err := srv.Handshake(); err != nil {
		tb.Fatalf("server handshake: %v", err)
	}
	if err := <-errc; err != nil {
		tb.Fatalf("client handshake: %v", err)
	}
	srv.SetDeadline(time.Time{})
	cli.SetDeadline(time.Time{})
	return srv, cli
}
