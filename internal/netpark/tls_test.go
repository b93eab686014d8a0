package netpark

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"testing"
)

// splitConn is a client-side conn that can cut its next Write in two: the
// first half goes out, then the Write waits for resume before sending the
// rest. Under TLS one Write is one record, so the server sees a record
// arrive in part.
type splitConn struct {
	net.Conn
	armed  atomic.Bool
	half   chan struct{}
	resume chan struct{}
}

func newSplitConn(c net.Conn) *splitConn {
	return &splitConn{Conn: c, half: make(chan struct{}), resume: make(chan struct{})}
}

func (s *splitConn) Write(p []byte) (int, error) {
	if len(p) < 2 || !s.armed.CompareAndSwap(true, false) {
		return s.Conn.Write(p)
	}
	n, err := s.Conn.Write(p[:len(p)/2])
	if err != nil {
		return n, err
	}
	close(s.half)
	<-s.resume
	m, err := s.Conn.Write(p[len(p)/2:])
	return n + m, err
}

// TestTLSOverParkedConn proves that crypto/tls survives ErrWouldBlock,
// including in the middle of a record, and that Watch/Read cycles deliver
// the stream intact.
func TestTLSOverParkedConn(t *testing.T) {
	for _, lb := range loopbacks {
		t.Run(lb.name, func(t *testing.T) {
			p := newPoller(t)
			pc, cc := pair(t, listen(t, lb))
			sc := newSplitConn(cc)
			srv, cli := handshake(t, pc, sc)
			pc.SetNonblocking(true)

			for range 2 { // ErrWouldBlock is not sticky
				if n, err := srv.Read(make([]byte, 64)); n != 0 || !errors.Is(err, ErrWouldBlock) {
					t.Fatalf("idle TLS read = %d, %v; want 0, ErrWouldBlock", n, err)
				}
			}

			send(t, cli, []byte("first message"))
			if got := readParked(t, p, pc, srv, 13); string(got) != "first message" {
				t.Fatalf("read %q", got)
			}

			readSplitRecord(t, p, pc, srv, cli, sc)
			readStream(t, p, pc, srv, cli)

			cli.Close() // sends close_notify
			if err := readParkedErr(t, p, pc, srv); err != io.EOF {
				t.Fatalf("after client close: err = %v, want io.EOF", err)
			}
		})
	}
}

// readSplitRecord sends one record in two halves and checks that the
// server reports ErrWouldBlock on the first half and the message after
// the second.
func readSplitRecord(t *testing.T, p *Poller, pc *Conn, srv io.Reader, cli io.Writer, sc *splitConn) {
	t.Helper()
	msg := bytes.Repeat([]byte("split record "), 40)
	sc.armed.Store(true)
	errc := make(chan error, 1)
	go func() {
		_, err := cli.Write(msg)
		errc <- err
	}()
	waitFor(t, sc.half, "the first half to be sent")
	waitFor(t, watchCh(t, p, pc), "the first half to arrive")
	if n, err := srv.Read(make([]byte, len(msg))); n != 0 || !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("half a record: Read = %d, %v; want 0, ErrWouldBlock", n, err)
	}
	close(sc.resume)
	if got := readParked(t, p, pc, srv, len(msg)); !bytes.Equal(got, msg) {
		t.Fatalf("split record read %q, want %q", got, msg)
	}
	if err := <-errc; err != nil {
		t.Fatalf("client write: %v", err)
	}
}

// readStream sends 256 KiB in writes of random sizes (many records, which
// cross TCP segments anywhere) and reads it back in the parked way.
func readStream(t *testing.T, p *Poller, pc *Conn, srv io.Reader, cli io.Writer) {
	t.Helper()
	seed := rand.Uint64()
	t.Logf("stream seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	data := make([]byte, 256<<10)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	errc := make(chan error, 1)
	go func() {
		rest := data
		for len(rest) > 0 {
			n := min(len(rest), 1+rng.IntN(20000))
			if _, err := cli.Write(rest[:n]); err != nil {
				errc <- err
				return
			}
			rest = rest[n:]
		}
		errc <- nil
	}()
	if got := readParked(t, p, pc, srv, len(data)); !bytes.Equal(got, data) {
		t.Fatal("stream read back differs from what was sent")
	}
	if err := <-errc; err != nil {
		t.Fatalf("client write: %v", err)
	}
}

func send(t *testing.T, w io.Writer, p []byte) {
	t.Helper()
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
}
