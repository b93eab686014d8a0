package ice

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// pion reads TURN connections over TCP, TLS and the HTTPS port (stream
// connections) with no deadline and accepts as many as arrive. The types
// here bound both: a connection must send its first message soon after
// pion accepts it, is then closed after a minute of silence until it has
// made an authenticated request, and after a long silence once it has;
// and the number of live connections is capped in total and per source.

const (
	// maxAllocationLifetime mirrors pion v5.1.3 (internal/server): a
	// requested LIFETIME of an hour or more is replaced by the 10-minute
	// default, so a client with a live allocation sends a Refresh at least
	// once an hour.
	maxAllocationLifetime = time.Hour
	// defaultStreamIdle closes a stream connection that neither sent nor
	// received anything for that long. It exceeds the longest allocation
	// lifetime by a margin, so that it cannot end a live allocation:
	// before the allocation could expire, its client must send a Refresh.
	defaultStreamIdle = maxAllocationLifetime + 5*time.Minute
	// defaultAnonymousIdle closes, after that much silence, a stream
	// connection that has not yet made a request with valid credentials
	// (it cannot hold an allocation). Without it a single Binding request
	// an hour would hold a connection slot for ever. A real client sends
	// its authenticated Allocate one round trip after the 401 that gives
	// it the nonce, so it never waits this long; a minute still leaves
	// room for one that probes the server first and fetches credentials
	// afterwards, where the 10-second handshake timeout might not.
	defaultAnonymousIdle = time.Minute
	// deadlineSteps: the idle deadline is pushed back at most once per
	// idle/deadlineSteps, so a busy connection does not reset a timer on
	// every read. A connection is thus never closed before 63/64 of its
	// idle timeout of silence (more than 1h03m by default once
	// authenticated).
	deadlineSteps = 64
	// stunHeaderSize is the size of a STUN message header (RFC 5389).
	stunHeaderSize = 20
	// channelHeaderSize is the size of a ChannelData header (RFC 5766).
	channelHeaderSize = 4
	// minFrameBytes is how many bytes pion waits for before it frames a
	// stream's first message.
	minFrameBytes = 9
)

// Reasons a stream connection is refused.
const (
	reasonConnLimit      = "conn_limit"
	reasonConnLimitPerIP = "conn_limit_per_ip"
)

// streamCaps counts live stream connections in total and per source. A
// slot is taken when the connection is accepted (before a TLS handshake)
// and given back when it closes.
type streamCaps struct {
	total int // 0: no cap
	perIP int // 0: no cap

	mu       sync.Mutex
	live     int
	bySource map[netip.Addr]int
}

func newStreamCaps(total, perIP int) *streamCaps {
	return &streamCaps{total: total, perIP: perIP, bySource: map[netip.Addr]int{}}
}

// admit takes a slot for a connection from remote and returns the function
// that gives it back (safe to call more than once), or the reason it does
// not fit.
func (c *streamCaps) admit(remote net.Addr) (release func(), reason string) {
	src := sourceKey(remote)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.total > 0 && c.live >= c.total:
		return nil, reasonConnLimit
	case c.perIP > 0 && c.bySource[src] >= c.perIP:
		return nil, reasonConnLimitPerIP
	}
	c.live++
	c.bySource[src]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.live--
			decrement(c.bySource, src)
		})
	}, ""
}

// sourceKey is what the per-source cap counts by: the IPv4 address, or
// the /64 of an IPv6 address, since one host commonly holds a whole /64
// and could otherwise open connections from as many addresses as it likes.
func sourceKey(remote net.Addr) netip.Addr {
	ap, ok := addrPortOf(remote)
	if !ok {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		return netip.PrefixFrom(ip.WithZone(""), 64).Masked().Addr()
	}
	return ip
}

// admitStream takes a slot for c; when none is left it counts the
// refusal, closes c and returns false.
func (s *Service) admitStream(c net.Conn, transport string) (release func(), ok bool) {
	release, reason := s.streams.admit(c.RemoteAddr())
	if reason != "" {
		s.relays.refuse(reason, "client", addrString(c.RemoteAddr()), "transport", transport)
		_ = c.Close()
		return nil, false
	}
	return release, true
}

// serveStream prepares an admitted connection for pion: deadlines (the
// first of which starts when pion accepts it), an entry in the index that
// authentication finds it by, then tracking (its close gives the slot
// back and leaves the index).
func (s *Service) serveStream(c net.Conn, release func()) net.Conn {
	dc := newDeadlineConn(c, s.firstMessageTimeout, s.anonymousIdle, s.streamIdle)
	forget := s.streamIndex.add(dc)
	return s.conns.add(dc, func() {
		forget()
		release()
	})
}

// streamTuple names a stream connection as pion's OnAuth event does: by
// the client's address and the server's. The network keeps a UDP client
// apart from a TCP one with the same address and port.
type streamTuple struct{ network, remote, local string }

func tupleOf(remote, local net.Addr) streamTuple {
	if remote == nil || local == nil {
		return streamTuple{}
	}
	return streamTuple{network: remote.Network(), remote: remote.String(), local: local.String()}
}

// streamIndex holds the live stream connections by their addresses, so
// that a request that authenticates can be traced to its connection.
type streamIndex struct {
	mu    sync.Mutex
	conns map[streamTuple]*deadlineConn
}

func newStreamIndex() *streamIndex {
	return &streamIndex{conns: map[streamTuple]*deadlineConn{}}
}

// add indexes c and returns the function that removes it.
func (x *streamIndex) add(c *deadlineConn) (remove func()) {
	key := tupleOf(c.RemoteAddr(), c.LocalAddr())
	if key == (streamTuple{}) {
		return func() {}
	}
	x.mu.Lock()
	x.conns[key] = c
	x.mu.Unlock()
	return func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		if x.conns[key] == c {
			delete(x.conns, key)
		}
	}
}

// authenticated tells the stream connection from src to dst, if there is
// one (UDP requests have none), that it made a request with valid
// credentials.
func (x *streamIndex) authenticated(src, dst net.Addr) {
	key := tupleOf(src, dst)
	if key == (streamTuple{}) {
		return
	}
	x.mu.Lock()
	c := x.conns[key]
	x.mu.Unlock()
	if c != nil {
		c.authenticated()
	}
}

// acceptTCP admits and prepares a TURN/TCP connection; nil when refused.
func (s *Service) acceptTCP(c net.Conn) net.Conn {
	release, ok := s.admitStream(c, transportTCP)
	if !ok {
		return nil
	}
	return s.serveStream(c, release)
}

// deadlineConn keeps a read deadline on a stream connection. It runs in
// three stages: from pion's accept, the time allowed for the first
// complete message; then a short idle timeout, until the client makes a
// request with valid credentials; then the long idle timeout. The idle
// timeouts are pushed back by every read and write. When the deadline
// passes, pion's read fails and pion closes the connection (deleting its
// allocation, if any). Writes count as activity so that an RFC 6062 data
// connection that only carries peer data to the client stays open.
type deadlineConn struct {
	net.Conn
	firstWithin   time.Duration
	anonymousIdle time.Duration // before any authenticated request
	idle          time.Duration // after one
	first         firstMessage  // used by the one reader only
	started       atomic.Bool   // the first message is complete
	trusted       atomic.Bool   // a request authenticated
	extended      atomic.Int64  // when the deadline was last pushed back (Unix ns)
	// mu orders the deadline changes, so that one computed before the
	// connection authenticated cannot land after the one computed on it.
	mu sync.Mutex
}

// newDeadlineConn wraps c; its first-message window opens with accepted.
func newDeadlineConn(c net.Conn, firstWithin, anonymousIdle, idle time.Duration) *deadlineConn {
	return &deadlineConn{Conn: c, firstWithin: firstWithin, anonymousIdle: anonymousIdle, idle: idle}
}

// accepted opens the first-message window: pion has just accepted the
// connection and starts reading it. Time spent before (a TLS handshake,
// waiting in a queue for pion) is not taken from the client's window.
func (c *deadlineConn) accepted() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.firstWithin))
}

// authenticated moves the connection to the long idle timeout.
func (c *deadlineConn) authenticated() {
	if c.trusted.CompareAndSwap(false, true) && c.started.Load() {
		c.extend(time.Now())
	}
}

// Read reads and records the activity.
func (c *deadlineConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.received(p[:n])
	}
	return n, err
}

// Write writes and, once the first message is in, records the activity.
func (c *deadlineConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 && c.started.Load() {
		c.touch()
	}
	return n, err
}

func (c *deadlineConn) received(b []byte) {
	if c.started.Load() {
		c.touch()
		return
	}
	if c.first.feed(b) {
		c.started.Store(true)
		c.extend(time.Now())
	}
}

// idleTimeout is the idle timeout of the current stage.
func (c *deadlineConn) idleTimeout() time.Duration {
	if c.trusted.Load() {
		return c.idle
	}
	return c.anonymousIdle
}

// touch pushes the idle deadline back unless that was done less than a
// deadlineSteps-th of the idle timeout ago.
func (c *deadlineConn) touch() {
	now := time.Now()
	if now.UnixNano()-c.extended.Load() >= int64(c.idleTimeout()/deadlineSteps) {
		c.extend(now)
	}
}

func (c *deadlineConn) extend(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.extended.Store(now.UnixNano())
	_ = c.Conn.SetReadDeadline(now.Add(c.idleTimeout()))
}

// firstMessage tells when the first TURN message of a stream is complete.
// It follows pion v5.1.3's framing of streams (consumeSingleTURNFrame),
// which it sees through the same reads pion makes: at least 9 bytes, then
// a STUN message when 20 bytes are in and carry the magic cookie, else
// ChannelData when the first two bits are 01 (its body padded to 4 bytes),
// else no TURN at all, which pion drops once it holds 20 bytes.
type firstMessage struct {
	head [stunHeaderSize]byte
	seen int
}

// feed records bytes read and reports whether the first message is
// complete.
func (f *firstMessage) feed(b []byte) bool {
	if f.seen < len(f.head) {
		copy(f.head[f.seen:], b)
	}
	f.seen += len(b)
	size, ok := f.size()
	return ok && f.seen >= size
}

// size is the length of the first message, header included, once the
// bytes seen decide it.
func (f *firstMessage) size() (int, bool) {
	length := int(binary.BigEndian.Uint16(f.head[2:4]))
	switch {
	case f.seen < minFrameBytes:
		return 0, false
	case f.seen >= stunHeaderSize && binary.BigEndian.Uint32(f.head[4:8]) == stunMagicCookie:
		return stunHeaderSize + length, true
	case f.head[0]>>6 == 1:
		return channelHeaderSize + (length+3)&^3, true
	}
	return 0, false
}
