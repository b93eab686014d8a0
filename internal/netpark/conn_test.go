package netpark

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestErrWouldBlockIsTemporaryNetError(t *testing.T) {
	var ne net.Error
	if !errors.As(ErrWouldBlock, &ne) {
		t.Fatal("ErrWouldBlock is not a net.Error")
	}
	if !ne.Timeout() || !ne.Temporary() { //nolint:staticcheck // crypto/tls reads Temporary
		t.Fatalf("Timeout() = %v, Temporary() = %v; want both true", ne.Timeout(), ne.Temporary())
	}
	if wrapped := fmt.Errorf("ws: %w", ErrWouldBlock); !errors.Is(wrapped, ErrWouldBlock) {
		t.Fatal("errors.Is does not see a wrapped ErrWouldBlock")
	}
	if errors.Is(ErrWouldBlock, os.ErrDeadlineExceeded) {
		t.Fatal("ErrWouldBlock must not pass for a deadline")
	}
}

func TestNonblockingRead(t *testing.T) {
	for _, lb := range loopbacks {
		t.Run(lb.name, func(t *testing.T) {
			p := newPoller(t)
			pc, cc := pair(t, listen(t, lb))
			pc.SetNonblocking(true)
			buf := make([]byte, 16)

			if n, err := pc.Read(buf); n != 0 || err != ErrWouldBlock {
				t.Fatalf("empty socket: Read = %d, %v; want 0, ErrWouldBlock", n, err)
			}
			if n, err := pc.Read(nil); n != 0 || err != nil {
				t.Fatalf("Read(nil) = %d, %v; want 0, nil", n, err)
			}

			if _, err := cc.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if got := readParked(t, p, pc, pc, 5); string(got) != "hello" {
				t.Fatalf("read %q, want hello", got)
			}
			if _, err := pc.Read(buf); err != ErrWouldBlock {
				t.Fatalf("drained socket: err = %v, want ErrWouldBlock", err)
			}

			cc.Close()
			if err := readParkedErr(t, p, pc, pc); err != io.EOF {
				t.Fatalf("after peer close: err = %v, want io.EOF", err)
			}
			if _, err := pc.Read(buf); err != io.EOF {
				t.Fatalf("second read after peer close: err = %v, want io.EOF", err)
			}

			pc.Close()
			_, err := pc.Read(buf)
			assertReadOpError(t, err, net.ErrClosed)
		})
	}
}

func TestNonblockingReadReset(t *testing.T) {
	p := newPoller(t)
	pc, cc := pair(t, listen(t, loopbacks[0]))
	pc.SetNonblocking(true)
	cc.SetLinger(0) // close with RST
	cc.Close()
	err := readParkedErr(t, p, pc, pc)
	assertReadOpError(t, err, syscall.ECONNRESET)
}

func TestNonblockingReadDeadline(t *testing.T) {
	pc, _ := pair(t, listen(t, loopbacks[0]))
	pc.SetNonblocking(true)
	pc.SetReadDeadline(time.Unix(1, 0))
	_, err := pc.Read(make([]byte, 1))
	assertReadOpError(t, err, os.ErrDeadlineExceeded)
	pc.SetReadDeadline(time.Time{})
	if _, err := pc.Read(make([]byte, 1)); err != ErrWouldBlock {
		t.Fatalf("deadline cleared: err = %v, want ErrWouldBlock", err)
	}
}

// assertReadOpError checks that err looks like the net package's own read
// errors and wraps want.
func assertReadOpError(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want one wrapping %v", err, want)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" || oe.Source == nil || oe.Addr == nil {
		t.Fatalf("err = %#v, want a *net.OpError for op read with both addresses", err)
	}
}

func TestBlockingRead(t *testing.T) {
	for _, lb := range loopbacks {
		t.Run(lb.name, func(t *testing.T) {
			pc, cc := pair(t, listen(t, lb))
			buf := make([]byte, 16)

			// An empty socket blocks until the deadline.
			pc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			_, err := pc.Read(buf)
			var ne net.Error
			if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("blocking read past deadline: err = %v, want a timeout", err)
			}
			pc.SetReadDeadline(time.Time{})

			// A blocked read returns what arrives.
			got := make(chan string, 1)
			go func() {
				n, err := pc.Read(buf)
				if err != nil {
					got <- err.Error()
					return
				}
				got <- string(buf[:n])
			}()
			cc.Write([]byte("ping"))
			select {
			case s := <-got:
				if s != "ping" {
					t.Fatalf("blocking read got %q, want ping", s)
				}
			case <-time.After(waitTimeout):
				t.Fatal("blocking read never returned")
			}

			// The mode switches both ways.
			pc.SetNonblocking(true)
			if _, err := pc.Read(buf); err != ErrWouldBlock {
				t.Fatalf("nonblocking: err = %v, want ErrWouldBlock", err)
			}
			pc.SetNonblocking(false)
			pc.SetReadDeadline(time.Unix(1, 0))
			if _, err := pc.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("blocking again: err = %v, want deadline exceeded", err)
			}
		})
	}
}

func TestConnForwards(t *testing.T) {
	pc, cc := pair(t, listen(t, loopbacks[0]))
	if pc.NetConn() == nil || pc.NetConn() == net.Conn(pc) {
		t.Fatal("NetConn does not return the wrapped conn")
	}
	if pc.LocalAddr().String() != cc.RemoteAddr().String() || pc.RemoteAddr().String() != cc.LocalAddr().String() {
		t.Fatalf("addresses %v/%v do not mirror the client's %v/%v",
			pc.LocalAddr(), pc.RemoteAddr(), cc.LocalAddr(), cc.RemoteAddr())
	}
	if _, err := pc.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	cc.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := io.ReadFull(cc, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("client read %q, %v; want pong", buf, err)
	}
	if err := pc.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := pc.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func TestWrapNeedsRawConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := Wrap(a); !errors.Is(err, ErrNoRawConn) {
		t.Fatalf("Wrap(net.Pipe) err = %v, want ErrNoRawConn", err)
	}
}

// pipeListener hands out one end of a net.Pipe, which has no descriptor.
type pipeListener struct {
	net.Listener
	conn net.Conn
}

func (l pipeListener) Accept() (net.Conn, error) { return l.conn, nil }

func TestListenerFallsBackToPlainConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c, err := NewListener(pipeListener{conn: a}).Accept()
	if err != nil {
		t.Fatal(err)
	}
	if c != a {
		t.Fatalf("Accept returned %T, want the pipe itself", c)
	}
}
