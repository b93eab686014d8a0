package signaling

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/internal/bus"
)

// closeCause is why the server closes a connection.
type closeCause struct {
	code   websocket.StatusCode
	reason string // close frame reason; at most 123 bytes
	metric string // disconnects_total reason
	goAway bool   // send GO_AWAY before the close frame
	abrupt bool   // drop the TCP connection without a close handshake
}

var (
	causeReplaced = closeCause{websocket.StatusNormalClosure,
		"replaced by a newer connection with the same identity", "replaced", true, false}
	causeChannelDeleted = closeCause{websocket.StatusGoingAway,
		"signaling channel deleted", "channel_deleted", true, false}
	causeShutdown = closeCause{websocket.StatusGoingAway,
		"server shutting down", "shutdown", true, false}
	causeShutdownForced = closeCause{websocket.StatusGoingAway,
		"server shutting down", "shutdown", false, true}
	causeMaxDuration = closeCause{websocket.StatusGoingAway,
		"maximum connection duration reached", "max_duration", true, false}
	causeIdle = closeCause{websocket.StatusNormalClosure,
		"idle timeout", "idle_timeout", false, false}
	causeSlowReader = closeCause{websocket.StatusPolicyViolation,
		"send queue full: client is not reading fast enough", "send_queue_full", false, false}
	causePingTimeout = closeCause{websocket.StatusGoingAway,
		"ping timeout", "ping_timeout", false, true}
	causeBinary = closeCause{websocket.StatusUnsupportedData,
		"binary frames are not supported; send JSON text frames", "binary_frame", false, false}
)

// outbound is one frame waiting to be written: a delivery (env) or a frame
// already encoded (raw).
type outbound struct {
	env bus.Envelope
	raw []byte
}

// conn is one accepted WebSocket connection. It is the bus.Handler of its
// address.
type conn struct {
	hub     *Hub
	id      uint64
	addr    bus.Address
	ttl     atomic.Int64 // nanoseconds; the channel's message TTL, updated live
	sub     bus.Subscription
	backlog []bus.Envelope // mailbox content handed over at subscribe time
	ws      *websocket.Conn
	netConn net.Conn       // under ws; only for deadlines
	wg      sync.WaitGroup // writer and pinger

	lastActivity atomic.Int64 // unix nanoseconds of the last client-initiated frame
	pinging      atomic.Bool

	// Guarded by mu: the send queue and the requests to the writer.
	mu      sync.Mutex
	queue   []outbound
	dead    bool        // Deliver refuses: the connection is closing
	goAway  bool        // GO_AWAY requested
	closing *closeCause // close requested; first request wins
	wake    chan struct{}

	// Owned by the reader goroutine.
	limits [3]tokenBucket // indexed by actionIndex
}

var _ bus.Handler = (*conn)(nil)

func newConn(h *Hub, addr bus.Address, ttl time.Duration) *conn {
	now := h.now()
	cfg := &h.cfg
	c := &conn{
		hub:  h,
		id:   h.nextID.Add(1),
		addr: addr,
		wake: make(chan struct{}, 1),
	}
	c.ttl.Store(int64(ttl))
	c.limits[actionIndex("SDP_OFFER")] = newTokenBucket(cfg.SDPOffersPerSecond, cfg.SDPOfferBurst, now)
	c.limits[actionIndex("SDP_ANSWER")] = newTokenBucket(cfg.SDPAnswersPerSecond, cfg.SDPAnswerBurst, now)
	c.limits[actionIndex("ICE_CANDIDATE")] = newTokenBucket(cfg.ICECandidatesPerSecond, cfg.ICECandidateBurst, now)
	return c
}

func actionIndex(action string) int {
	switch action {
	case "SDP_OFFER":
		return 0
	case "SDP_ANSWER":
		return 1
	default:
		return 2
	}
}

// Deliver implements bus.Handler: it queues env for the writer.
func (c *conn) Deliver(env bus.Envelope) bool { return c.push(outbound{env: env}) }

// Displaced implements bus.Handler.
func (c *conn) Displaced() { c.requestClose(causeReplaced) }

// ChannelClosed implements bus.Handler.
func (c *conn) ChannelClosed() { c.requestClose(causeChannelDeleted) }

// push queues a frame without blocking. A full queue marks the connection
// as a slow reader: it is closed and refuses everything from then on.
func (c *conn) push(o outbound) bool {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) >= c.hub.cfg.SendQueueLength {
		c.dead = true
		if c.closing == nil {
			c.closing = &causeSlowReader
		}
		c.mu.Unlock()
		c.hub.metrics.dropped.WithLabelValues(causeSlowReader.metric).Inc()
		c.signal()
		return false
	}
	c.queue = append(c.queue, o)
	c.mu.Unlock()
	c.signal()
	return true
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// requestGoAway asks the writer to send GO_AWAY (once).
func (c *conn) requestGoAway() {
	c.mu.Lock()
	c.goAway = true
	c.mu.Unlock()
	c.signal()
}

// requestClose asks the writer to close the connection. The first cause
// is kept, except that a forced close overrides a graceful one.
func (c *conn) requestClose(cause closeCause) {
	c.mu.Lock()
	c.dead = true
	if c.closing == nil || cause.abrupt && !c.closing.abrupt {
		c.closing = &cause
	}
	c.mu.Unlock()
	c.signal()
}

// takeQueue swaps the queue with spare (emptied) and returns what was
// queued, with the pending requests.
func (c *conn) takeQueue(spare []outbound) ([]outbound, bool, *closeCause) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	c.queue = spare[:0]
	goAway := c.goAway
	c.goAway = false
	return q, goAway, c.closing
}

// closeCauseOrNil returns the requested close cause, if any.
func (c *conn) closeCauseOrNil() *closeCause {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// touch records activity from the client for the idle timer.
func (c *conn) touch() { c.lastActivity.Store(time.Now().UnixNano()) }

// onPing counts a client ping as activity (spec 6.8) and lets the library
// answer it.
func (c *conn) onPing(context.Context, []byte) bool {
	c.touch()
	return true
}

// abandon undoes admit when the upgrade fails.
func (c *conn) abandon() {
	c.requestClose(causeShutdownForced)
	c.sub.Unsubscribe()
	c.hub.unregister(c)
}

// serve runs the connection until it closes: the writer in its own
// goroutine, the reader in this one.
func (c *conn) serve(ws *websocket.Conn) {
	h := c.hub
	c.ws = ws
	ws.SetReadLimit(h.cfg.ReadLimit)
	role := c.addr.Role.String()
	h.metrics.connects.WithLabelValues(role).Inc()
	h.metrics.connections.WithLabelValues(role).Inc()
	h.log.Debug("signaling connection accepted", "conn", c.id, "role", role,
		"client_id", c.addr.ClientID, "channel", c.addr.Channel, "backlog", len(c.backlog))

	ctx, cancel := context.WithCancel(context.Background())
	c.touch()
	c.wg.Add(1)
	go c.writeLoop(ctx)
	readErr := c.readLoop(ctx)

	// Queue mail for this address again as early as possible.
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
	c.sub.Unsubscribe()
	cancel()
	c.wg.Wait()
	_ = ws.CloseNow()

	reason := disconnectReason(readErr)
	if cause := c.closeCauseOrNil(); cause != nil {
		reason = cause.metric
	}
	h.metrics.connections.WithLabelValues(role).Dec()
	h.metrics.disconnects.WithLabelValues(reason).Inc()
	h.unregister(c)
	h.log.Debug("signaling connection closed", "conn", c.id, "reason", reason)
}

// disconnectReason names why the reader stopped when the server did not
// ask for the close.
func disconnectReason(err error) string {
	switch {
	case errors.Is(err, websocket.ErrMessageTooBig):
		return "read_limit"
	case websocket.CloseStatus(err) != -1:
		return "client_closed"
	default:
		return "connection_lost"
	}
}
