package netpark

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is an accepted TCP connection that can be read without blocking.
//
// In blocking mode (the default) it behaves exactly like the connection it
// wraps. In nonblocking mode Read makes a single receive attempt and
// returns ErrWouldBlock instead of waiting, so that the reading goroutine
// can end and leave the connection to a Poller. Writes, Close, deadlines
// and addresses always go straight to the wrapped connection.
type Conn struct {
	nc          net.Conn
	raw         syscall.RawConn
	nonblocking atomic.Bool
}

var _ net.Conn = (*Conn)(nil)

// Wrap returns a Conn around c, which must expose its descriptor through
// syscall.Conn (as *net.TCPConn does). The Conn starts in blocking mode.
func Wrap(c net.Conn) (*Conn, error) {
	if !supported {
		return nil, ErrUnsupported
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrNoRawConn, c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoRawConn, err)
	}
	return &Conn{nc: c, raw: raw}, nil
}

// NetConn returns the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// SetNonblocking switches between blocking and nonblocking reads. It may be
// called from any goroutine and applies from the next Read on; it does not
// wake a Read already waiting in blocking mode (a read deadline does that).
func (c *Conn) SetNonblocking(on bool) { c.nonblocking.Store(on) }

// Read reads from the connection. In blocking mode it is the wrapped
// connection's Read. In nonblocking mode it makes one receive attempt: it
// returns ErrWouldBlock when the socket holds no data, io.EOF once the peer
// has closed its side, and otherwise the errors the net package would
// report (a *net.OpError; errors.Is(err, net.ErrClosed) after Close, and
// os.ErrDeadlineExceeded once a read deadline has passed).
func (c *Conn) Read(p []byte) (int, error) {
	if !c.nonblocking.Load() {
		return c.nc.Read(p)
	}
	return c.tryRead(p)
}

// tryRead is the nonblocking Read. The callback given to RawConn.Read
// always returns true, so the runtime never parks this goroutine; going
// through RawConn (rather than using the descriptor directly) keeps the
// descriptor referenced for the duration of the call and applies the
// net package's closed and deadline checks.
func (c *Conn) tryRead(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	call := recvCalls.Get().(*recvCall)
	call.p = p
	err := c.raw.Read(call.recv)
	n, recvErr := call.n, call.err
	*call = recvCall{recv: call.recv}
	recvCalls.Put(call)
	switch {
	case err != nil:
		return 0, c.opError(err)
	case recvErr == ErrWouldBlock:
		return 0, ErrWouldBlock
	case recvErr != nil:
		return 0, c.opError(os.NewSyscallError("read", recvErr))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// recvCall is one receive attempt, given to RawConn.Read as its callback.
// The calls are pooled with their callback bound: a closure made for each
// read would be an allocation per message.
type recvCall struct {
	p    []byte
	n    int
	err  error
	recv func(fd uintptr) bool // call.receive, bound once
}

var recvCalls = sync.Pool{New: func() any {
	call := new(recvCall)
	call.recv = call.receive
	return call
}}

func (call *recvCall) receive(fd uintptr) bool {
	call.n, call.err = recvOnce(fd, call.p)
	return true
}

// opError dresses err the way net.TCPConn.Read does, so callers that
// inspect read errors cannot tell the two modes apart. RawConn reports its
// own failures as a "raw-read" *net.OpError; only the cause is kept.
func (c *Conn) opError(err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err
	}
	return &net.OpError{
		Op:     "read",
		Net:    c.nc.LocalAddr().Network(),
		Source: c.nc.LocalAddr(),
		Addr:   c.nc.RemoteAddr(),
		Err:    err,
	}
}

// Write writes to the wrapped connection.
func (c *Conn) Write(p []byte) (int, error) { return c.nc.Write(p) }

// Close closes the wrapped connection. A parked Conn must be unwatched
// first (see Poller.Unwatch).
func (c *Conn) Close() error { return c.nc.Close() }

// LocalAddr returns the wrapped connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the wrapped connection's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetDeadline sets the wrapped connection's read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// SetReadDeadline sets the wrapped connection's read deadline. It bounds
// blocking reads; a nonblocking Read after it has passed fails with
// os.ErrDeadlineExceeded, as a blocking one would.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// SetWriteDeadline sets the wrapped connection's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }
