package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Timings of one connection that callers have no reason to tune.
const (
	// goAwayGrace is how long the client waits, after GO_AWAY, for the
	// server's close frame (which says whether the connection was
	// replaced) before closing and reconnecting itself. Real KVS closes
	// up to a minute after GO_AWAY.
	goAwayGrace = 2 * time.Second
	// closeTimeout bounds a close handshake.
	closeTimeout = 2 * time.Second
	// readLimit bounds one server frame; KVS frames stay under 10 KiB.
	readLimit = 64 << 10
	// stableSession is how long a connection must have lasted for the
	// next reconnection to start with a fresh attempt budget, so that a
	// server that accepts and drops at once cannot cause an endless loop.
	stableSession = 30 * time.Second
)

// replacedMarker is what a close reason says when the server handed the
// connection's identity to a newer connection.
const replacedMarker = "replaced"

// run serves connections one after the other until the client stops. It
// is the only goroutine that sends on or closes c.events.
func (c *SignalingClient) run(ws *websocket.Conn) {
	defer close(c.done)
	defer close(c.events)
	attempts := 0
	for {
		started := time.Now()
		end := c.serve(ws)
		if c.ctx.Err() != nil {
			// Close may land after serve handed over the connection
			// opened after GO_AWAY: nobody will serve it now.
			if end.successor != nil {
				c.discard(end.successor)
			}
			c.finish(nil)
			return
		}
		if !c.cfg.Reconnect || end.final {
			c.finish(fmt.Errorf("client: %w", end.err))
			return
		}
		if time.Since(started) >= stableSession {
			attempts = 0
		}
		c.setState(nil, StateReconnecting)
		c.log.Info("signaling connection ended; reconnecting", "error", end.err)
		c.emit(stateEvent(StateReconnecting, end.err))
		if end.successor != nil {
			ws = end.successor
			c.connected(ws)
			continue
		}
		var err error
		if ws, err = c.reconnect(&attempts, end.err); err != nil {
			if c.ctx.Err() != nil {
				err = nil
			}
			c.finish(err)
			return
		}
		c.connected(ws)
	}
}

// connected publishes a new connection.
func (c *SignalingClient) connected(ws *websocket.Conn) {
	c.lastSend.Store(time.Now().UnixNano())
	c.setState(ws, StateConnected)
	c.log.Info("signaling connected", "channel", c.cfg.ChannelARN)
	c.emit(stateEvent(StateConnected, nil))
}

// discard closes a connection that no session will serve and forgets its
// socket, which dial kept for the session.
func (c *SignalingClient) discard(ws *websocket.Conn) {
	c.sockets.Delete(ws)
	_ = ws.CloseNow()
}

// finish records the end and sends the last event. After Close (err nil)
// the event is dropped when the buffer is full: nobody may be reading.
func (c *SignalingClient) finish(err error) {
	c.mu.Lock()
	c.ws, c.state, c.err = nil, StateClosed, err
	c.mu.Unlock()
	if err != nil {
		c.log.Info("signaling client stopped", "error", err)
		c.emit(stateEvent(StateClosed, err))
		return
	}
	select {
	case c.events <- stateEvent(StateClosed, nil):
	default:
	}
}

func (c *SignalingClient) setState(ws *websocket.Conn, s State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ws, c.state = ws, s
}

// emit delivers ev, waiting for buffer space unless the client is closed.
func (c *SignalingClient) emit(ev Event) bool {
	select {
	case c.events <- ev:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// sessionEnd says why a connection ended and whether reconnecting is
// allowed.
type sessionEnd struct {
	err   error
	final bool
	// successor is the connection that replaced this one after GO_AWAY
	// (see onGoAway): the client goes on with it instead of reconnecting.
	successor *websocket.Conn
}

// session is one WebSocket connection of the client.
type session struct {
	c      *SignalingClient
	ws     *websocket.Conn
	socket net.Conn        // the TCP connection under ws, when the transport dialled it
	ctx    context.Context // bounds reads; cancelling it drops the socket
	cancel context.CancelFunc
	wg     sync.WaitGroup

	goAway     atomic.Bool                    // GO_AWAY received
	successor  atomic.Pointer[websocket.Conn] // dialled after GO_AWAY, to take this one over
	stalled    atomic.Bool                    // the reader waits for room in c.events
	pingFailed atomic.Pointer[error]          // keepalive gave up on the connection
}

// serve runs one connection until it ends: the reader in this goroutine,
// the keepalive and a watcher for Close in their own.
func (c *SignalingClient) serve(ws *websocket.Conn) sessionEnd {
	s := &session{c: c, ws: ws}
	if v, ok := c.sockets.LoadAndDelete(ws); ok {
		s.socket = v.(net.Conn) //nolint:forcetypeassert // dial stores net.Conn
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Go(s.watchClose)
	if c.cfg.KeepaliveInterval > 0 {
		s.wg.Go(s.keepalive)
	}
	end := s.readLoop()
	s.cancel()
	s.wg.Wait()
	_ = ws.CloseNow()
	if next := s.successor.Load(); next != nil {
		if c.ctx.Err() == nil {
			return sessionEnd{err: end.err, successor: next}
		}
		c.discard(next) // Close landed during the hand-over
	}
	return end
}

// watchClose closes the connection politely when the client is closed.
func (s *session) watchClose() {
	select {
	case <-s.ctx.Done():
	case <-s.c.ctx.Done():
		s.closePolitely(websocket.StatusNormalClosure, "client closing")
	}
}

// closePolitely runs a close handshake; if the peer does not complete it
// within closeTimeout the socket is dropped. Cancelling the read context
// makes the library close it while a read is under way; when the close
// began before the reader's first read, the library waits for the peer
// on its own (for 5 s), and only closing the TCP connection ends that.
func (s *session) closePolitely(code websocket.StatusCode, reason string) {
	t := time.AfterFunc(closeTimeout, func() {
		s.cancel()
		if s.socket != nil {
			_ = s.socket.Close()
		}
	})
	defer t.Stop()
	_ = s.ws.Close(code, reason)
}

// readLoop reads server frames and delivers them as events until the
// connection ends.
func (s *session) readLoop() sessionEnd {
	for {
		typ, frame, err := s.ws.Read(s.ctx)
		if err != nil {
			return s.ended(err)
		}
		if typ != websocket.MessageText {
			s.c.log.Debug("signaling binary frame ignored", "bytes", len(frame))
			continue
		}
		ev, ok := decodeServerFrame(frame)
		if !ok {
			s.c.log.Debug("signaling frame without messageType ignored", "bytes", len(frame))
			continue
		}
		s.c.log.Debug("signaling frame received", "type", ev.MessageType, "sender", ev.SenderClientID)
		if ev.MessageType == kvsapi.MessageGoAway {
			s.onGoAway()
		}
		s.stalled.Store(true)
		s.c.emit(ev) // after Close the event is dropped and the next read ends
		s.stalled.Store(false)
	}
}

// onGoAway notes GO_AWAY and, when reconnecting, moves to a new
// connection after a grace period unless the server has closed this one
// first.
//
// The new connection is opened while this one is still read: the server
// then hands this connection's identity to it and closes this one
// ("replaced") after what it already sent here, and gives the new one
// what it had not. Closing first instead would lose the messages that
// cross the client's close frame: a close handshake discards the data
// frames that arrive before the server's answer. A server that does not
// close this connection within closeTimeout of the new one's start, or a
// new connection that cannot be opened, falls back to that close.
func (s *session) onGoAway() {
	s.c.log.Info("signaling GO_AWAY received")
	if s.goAway.Swap(true) || !s.c.cfg.Reconnect {
		return
	}
	s.wg.Go(func() {
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(goAwayGrace):
		}
		if next, err := s.c.dial(s.c.ctx); err == nil {
			s.successor.Store(next)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(closeTimeout):
			}
		} else {
			s.c.log.Info("signaling connection after GO_AWAY failed; closing and reconnecting", "error", err)
		}
		s.closePolitely(websocket.StatusNormalClosure, "reconnecting after GO_AWAY")
	})
}

// ended classifies the error that ended the reader.
func (s *session) ended(err error) sessionEnd {
	if s.c.ctx.Err() != nil {
		return sessionEnd{final: true}
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		how := fmt.Sprintf("server closed the connection (status %d, reason %q)", int(ce.Code), ce.Reason)
		if strings.Contains(strings.ToLower(ce.Reason), replacedMarker) {
			return sessionEnd{err: fmt.Errorf("%w: %s", ErrReplaced, how), final: true}
		}
		if s.goAway.Load() {
			how += " after GO_AWAY"
		}
		return sessionEnd{err: fmt.Errorf("%w: %s", ErrDisconnected, how)}
	}
	if p := s.pingFailed.Load(); p != nil {
		return sessionEnd{err: fmt.Errorf("%w: %w", ErrDisconnected, *p)}
	}
	if s.goAway.Load() {
		return sessionEnd{err: fmt.Errorf("%w: connection closed after GO_AWAY: %w", ErrDisconnected, err)}
	}
	return sessionEnd{err: fmt.Errorf("%w: %w", ErrDisconnected, err)}
}

// keepalive pings the server whenever nothing has been sent for the
// keepalive interval. A ping left unanswered as long drops the connection,
// unless the reader is stalled on a full event buffer (then the pong is
// simply not read yet).
func (s *session) keepalive() {
	interval := s.c.cfg.KeepaliveInterval
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-timer.C:
		}
		idle := time.Since(time.Unix(0, s.c.lastSend.Load()))
		if idle < interval {
			timer.Reset(interval - idle)
			continue
		}
		if err := s.ping(interval); err != nil {
			pingErr := fmt.Errorf("keepalive: %w", err)
			s.pingFailed.Store(&pingErr)
			s.c.log.Info("signaling keepalive failed; dropping the connection", "error", err)
			s.cancel()
			return
		}
		timer.Reset(interval)
	}
}

// ping sends one ping and waits up to timeout for its pong.
func (s *session) ping(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	s.c.lastSend.Store(time.Now().UnixNano())
	err := s.ws.Ping(ctx)
	if err != nil && (s.stalled.Load() || s.ctx.Err() != nil || errors.Is(err, net.ErrClosed)) {
		return nil // not the connection's fault, or already ending: the reader reports why
	}
	if err != nil {
		return fmt.Errorf("no pong within %s: %w", timeout, err)
	}
	return nil
}
