package ice

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"time"
)

// ALPNProtocol is the ALPN name of TURN over TLS (RFC 7443). When
// on_https_port is set, add it to the HTTPS listener's NextProtos so that
// TURN clients that offer it are recognised without peeking.
const ALPNProtocol = "stun.turn"

// defaultHandshakeTimeout bounds a TLS handshake plus the first bytes a
// client must send before the connection is classified, and the wait of a
// TURN connection for pion to accept it.
const defaultHandshakeTimeout = 10 * time.Second

// defaultFirstMessageTimeout is how long a TURN stream connection has,
// from the moment pion accepts it, to complete its first message.
const defaultFirstMessageTimeout = 10 * time.Second

// stunMagicCookie is at bytes 4 to 8 of every STUN message (RFC 5389).
const stunMagicCookie = 0x2112A442

// looksLikeSTUN reports whether the first 8 bytes of a stream are a STUN
// message header: the two top bits zero and the magic cookie in place. A
// TURN client always starts with a STUN request (Allocate or Binding);
// HTTP starts with an ASCII method name, which never matches.
func looksLikeSTUN(head []byte) bool {
	return len(head) >= 8 && head[0]&0xC0 == 0 && binary.BigEndian.Uint32(head[4:8]) == stunMagicCookie
}

// SplitTURN lets TURN share the HTTPS port. ln is the HTTPS listener (a
// tls.NewListener); the returned listener gives net/http the HTTP
// connections and sends TURN connections to the embedded server.
//
// A connection that negotiated ALPN h2 or http/1.1 passes through untouched
// as a *tls.Conn (so net/http keeps HTTP/2 and r.TLS). One that negotiated
// ALPNProtocol is TURN. Any other is classified on its first 8 bytes: a
// STUN header goes to TURN, anything else to HTTP (as a connection that
// replays those bytes; its requests still see their TLS state, and a
// WebSocket upgrade on it gets the *tls.Conn, see prefixConn). With
// on_https_port off, or with the embedded relay off, ln is returned
// unchanged. Call it before or after Run; TURN connections found while Run
// is not serving wait up to a handshake timeout and are then closed.
func (s *Service) SplitTURN(ln net.Listener) net.Listener {
	if s.httpsQueue == nil {
		return ln
	}
	s.httpsQueue.setAddr(ln.Addr())
	ctx, cancel := context.WithCancel(context.Background())
	return &splitListener{Listener: ln, svc: s, http: make(chan net.Conn), stopped: make(chan struct{}), ctx: ctx, cancel: cancel}
}

// splitListener is the HTTPS listener with TURN taken out.
type splitListener struct {
	net.Listener
	svc     *Service
	http    chan net.Conn
	stopped chan struct{} // closed when the inner listener stops
	err     error         // why it stopped; set before stopped is closed
	ctx     context.Context
	cancel  context.CancelFunc
	start   sync.Once
	routing sync.WaitGroup
}

// Accept returns the next HTTP connection.
func (l *splitListener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.pump() })
	select {
	case c := <-l.http:
		return c, nil
	case <-l.stopped:
		return nil, l.err
	}
}

// Close stops accepting, abandons connections still being classified and
// waits for their goroutines.
func (l *splitListener) Close() error {
	err := l.Listener.Close()
	l.cancel()
	l.start.Do(func() { go l.pump() }) // so that stopped is closed even if Accept never ran
	<-l.stopped
	l.routing.Wait()
	return err
}

func (l *splitListener) pump() {
	defer close(l.stopped)
	for {
		c, err := acceptNext(l.Listener, l.svc.log, l.ctx.Done())
		if err != nil {
			l.err = err
			return
		}
		l.routing.Add(1)
		go func() {
			defer l.routing.Done()
			l.route(c)
		}()
	}
}

// route classifies one connection and delivers it.
func (l *splitListener) route(c net.Conn) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		l.toHTTP(c)
		return
	}
	ctx, cancel := context.WithTimeout(l.ctx, l.svc.handshakeTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = tc.SetDeadline(time.Now()) })
	conn, turn, err := classify(ctx, tc)
	if !stop() || err != nil {
		_ = tc.Close()
		return
	}
	if turn {
		l.svc.pushHTTPSTURN(conn)
		return
	}
	l.toHTTP(conn)
}

// classify completes the handshake and decides whether tc carries TURN.
// It returns the connection to use from then on (tc itself, or a
// connection replaying the bytes read to decide).
func classify(ctx context.Context, tc *tls.Conn) (net.Conn, bool, error) {
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, false, err
	}
	switch tc.ConnectionState().NegotiatedProtocol {
	case "h2", "http/1.1":
		return tc, false, nil
	case ALPNProtocol:
		return tc, true, nil
	}
	head := make([]byte, 8)
	if _, err := io.ReadFull(tc, head); err != nil {
		return nil, false, err
	}
	return &prefixConn{Conn: tc, tls: tc, prefix: head}, looksLikeSTUN(head), nil
}

func (l *splitListener) toHTTP(c net.Conn) {
	select {
	case l.http <- c:
	case <-l.stopped:
		_ = c.Close()
	case <-l.ctx.Done():
		_ = c.Close()
	}
}

// pushHTTPSTURN hands a TURN connection found on the HTTPS port to the
// embedded server, within the connection caps.
func (s *Service) pushHTTPSTURN(c net.Conn) {
	release, ok := s.admitStream(c, transportHTTPS)
	if !ok {
		return
	}
	s.httpsQueue.push(s.serveStream(c, release), s.handshakeTimeout)
}

// prefixConn replays bytes already read before reading on. It is what
// net/http gets for a TLS connection that negotiated no ALPN protocol, so
// it also answers what net/http and the signaling hub ask of a *tls.Conn:
// ConnectionState gives requests their r.TLS (net/http looks for that
// method on connections that are not a *tls.Conn), and Drained gives the
// hub, through wsserver, the *tls.Conn it parks a WebSocket connection by.
type prefixConn struct {
	net.Conn
	tls    *tls.Conn // the same connection as Conn
	prefix []byte
}

// ConnectionState returns the TLS state of the connection.
func (c *prefixConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// Drained returns the *tls.Conn once the replayed bytes have all been
// read; until then it returns false, as the bytes would be lost. It must
// not run concurrently with Read (after a hijack, nothing else reads).
func (c *prefixConn) Drained() (net.Conn, bool) {
	if len(c.prefix) > 0 {
		return nil, false
	}
	return c.tls, true
}

// Read returns the replayed bytes first, then reads on.
func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// handshakeTLS runs the server handshake of a TURN/TLS connection (port
// 5349) before pion sees it, so that a failed or stalled handshake closes
// the connection (pion would leave it open).
func handshakeTLS(ctx context.Context, raw net.Conn, cfg *tls.Config, timeout time.Duration) (*tls.Conn, error) {
	tc := tls.Server(raw, cfg)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return tc, nil
}
