package ice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// socketBufferBytes is asked for on the TURN UDP sockets: the small
// default buffers drop packets of a few Mb/s streams under load.
const socketBufferBytes = 4 << 20

// tracker counts work that Run must see end before it returns: listener
// read loops, relay readers and TURN connections, all of them goroutines
// inside pion that Switchboard cannot join directly.
type tracker struct {
	mu      sync.Mutex
	n       int
	changed chan struct{}
}

func newTracker() *tracker { return &tracker{changed: make(chan struct{})} }

// start counts one piece of work and returns the function that marks it
// ended (safe to call more than once).
func (t *tracker) start() func() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			t.n--
			close(t.changed)
			t.changed = make(chan struct{})
			t.mu.Unlock()
		})
	}
}

// wait blocks until no work is left or ctx ends; it returns how much work
// was left.
func (t *tracker) wait(ctx context.Context) int {
	for {
		t.mu.Lock()
		n, changed := t.n, t.changed
		t.mu.Unlock()
		if n == 0 {
			return 0
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return n
		}
	}
}

// listenUDP opens n UDP sockets sharing addr's port (SO_REUSEPORT where the
// system has it), each to be read by its own pion read loop. A plain bind
// first makes sure no other process holds the port, since SO_REUSEPORT
// would otherwise silently share it.
func listenUDP(ctx context.Context, addr string, n int) ([]net.PacketConn, error) {
	probe, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	port := probe.LocalAddr().(*net.UDPAddr).Port //nolint:forcetypeassert // a UDP socket
	if !reusePortSupported || n == 1 {
		tuneUDP(probe)
		return []net.PacketConn{probe}, nil
	}
	_ = probe.Close()
	lc := net.ListenConfig{Control: reusePortControl}
	shared := net.JoinHostPort(host, strconv.Itoa(port))
	conns := make([]net.PacketConn, 0, n)
	for range n {
		c, err := lc.ListenPacket(ctx, "udp", shared)
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("UDP listener %d of %d on %s: %w", len(conns)+1, n, shared, err)
		}
		tuneUDP(c)
		conns = append(conns, c)
	}
	return conns, nil
}

func tuneUDP(c net.PacketConn) {
	if uc, ok := c.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(socketBufferBytes)
		_ = uc.SetWriteBuffer(socketBufferBytes)
	}
}

func closeAll[T interface{ Close() error }](items []T) {
	for _, it := range items {
		_ = it.Close()
	}
}

// trackedPacketConn marks its read loop ended when a read fails (pion's
// loop returns on the first error).
type trackedPacketConn struct {
	net.PacketConn
	done func()
}

// ReadFrom reads a datagram; the first error marks the loop ended.
func (c *trackedPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if err != nil {
		c.done()
	}
	return n, addr, err
}

// connSet holds the TURN connections (TCP, TLS, HTTPS port) pion serves:
// pion never closes them on shutdown, so Run does.
type connSet struct {
	track  *tracker
	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func newConnSet(t *tracker) *connSet {
	return &connSet{track: t, conns: map[*trackedConn]struct{}{}}
}

// add tracks c, whose close calls release; after closeAll it closes c
// instead.
func (s *connSet) add(c net.Conn, release func()) net.Conn {
	tc := &trackedConn{Conn: c, set: s, release: release}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = tc.Close()
		return tc
	}
	tc.done = s.track.start()
	s.conns[tc] = struct{}{}
	s.mu.Unlock()
	return tc
}

// closeAll closes every tracked connection and refuses new ones.
func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Conn.Close()
	}
}

// trackedConn is a TURN connection; pion closes it when its read loop
// ends, which is when Run counts it finished and its connection slot is
// given back.
type trackedConn struct {
	net.Conn
	set     *connSet
	done    func()
	release func()
	once    sync.Once
}

// accepted passes pion's accept on to the connection inside.
func (c *trackedConn) accepted() {
	if n, ok := c.Conn.(acceptNotifier); ok {
		n.accepted()
	}
}

// Close closes the connection and marks it finished.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.set.mu.Lock()
		delete(c.set.conns, c)
		c.set.mu.Unlock()
		if c.done != nil {
			c.done()
		}
		c.release()
	})
	return err
}

// connQueue is a net.Listener fed by Switchboard rather than by a socket:
// TLS connections whose handshake is done, and TURN connections found on
// the HTTPS port. pion accepts from it like from any listener.
type connQueue struct {
	addr   atomic.Pointer[net.Addr]
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	q := &connQueue{ch: make(chan net.Conn), closed: make(chan struct{})}
	q.setAddr(addr)
	return q
}

// setAddr sets the address Addr reports.
func (q *connQueue) setAddr(addr net.Addr) { q.addr.Store(&addr) }

// push hands c to the accepting side within timeout; otherwise, or when
// the queue is closed, c is closed.
func (q *connQueue) push(c net.Conn, timeout time.Duration) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case q.ch <- c:
	case <-q.closed:
		_ = c.Close()
	case <-timer.C:
		_ = c.Close()
	}
}

// Accept implements net.Listener.
func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.closed:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.closed) })
	return nil
}

// Addr implements net.Listener.
func (q *connQueue) Addr() net.Addr { return *q.addr.Load() }

// Backoff between accept attempts that failed for a reason that passes.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// acceptLoop accepts from ln until it is closed or stop is, handing each
// connection to handle.
func acceptLoop(ln net.Listener, log *slog.Logger, stop <-chan struct{}, handle func(net.Conn)) {
	for {
		c, err := acceptNext(ln, log, stop)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.Warn("turn: listener failed, no longer accepting", "addr", ln.Addr().String(), "err", err)
			}
			return
		}
		handle(c)
	}
}

// acceptNext returns the next connection ln accepts. Failures that pass
// with time (see retryableAccept) are waited out, the wait doubling from
// minAcceptBackoff up to maxAcceptBackoff, so that running out of file
// descriptors slows accepting down instead of ending it. It returns an
// error when ln is closed, when stop is closed during a wait (as
// net.ErrClosed), or when ln fails in any other way.
func acceptNext(ln net.Listener, log *slog.Logger, stop <-chan struct{}) (net.Conn, error) {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err == nil || !retryableAccept(err) {
			return c, err
		}
		backoff = min(max(2*backoff, minAcceptBackoff), maxAcceptBackoff)
		level := slog.LevelDebug
		if backoff == minAcceptBackoff { // once per run of failures
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "turn: accept failed, retrying", "addr", ln.Addr().String(), "err", err, "backoff", backoff)
		wait := time.NewTimer(backoff)
		select {
		case <-wait.C:
		case <-stop:
			wait.Stop()
			return nil, net.ErrClosed
		}
	}
}

// retryableAccept tells whether an accept error is worth retrying: a
// timeout or an error net reports as temporary (EMFILE, ENFILE); a
// pending connection that went away before it was accepted (ECONNABORTED,
// ECONNRESET: net calls those temporary only when the errno is bare, and
// accept wraps it in an os.SyscallError); or the kernel being short of
// memory for the new socket (ENOBUFS, ENOMEM). A closed listener never is.
func retryableAccept(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, errno := range []syscall.Errno{syscall.ECONNABORTED, syscall.ECONNRESET, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && (ne.Timeout() || ne.Temporary()) //nolint:staticcheck // Temporary is what marks EMFILE and ENFILE
}
