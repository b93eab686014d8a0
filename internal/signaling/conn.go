package signaling

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/gobwas/ws"

	"github.com/switchboard-rtc/switchboard/internal/bus"
	"github.com/switchboard-rtc/switchboard/internal/netpark"
	"github.com/switchboard-rtc/switchboard/internal/wsserver"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// closeCause is why the server closes a connection.
type closeCause struct {
	code   ws.StatusCode
	reason string // close frame reason; at most 123 bytes
	metric string // disconnects_total reason
	goAway bool   // send GO_AWAY before the close frame
	abrupt bool   // drop the TCP connection without a close handshake
	// flush writes what is queued before the close frame. Only for a
	// client that is still the rightful recipient and reading; otherwise
	// the queue goes back to the bus (see conn.handBack).
	flush bool
}

var (
	causeReplaced = closeCause{ws.StatusNormalClosure,
		"replaced by a newer connection with the same identity", "replaced", true, false, false}
	causeChannelDeleted = closeCause{ws.StatusGoingAway,
		"signaling channel deleted", "channel_deleted", true, false, false}
	causeShutdown = closeCause{ws.StatusGoingAway,
		"server shutting down", "shutdown", true, false, true}
	causeShutdownForced = closeCause{ws.StatusGoingAway,
		"server shutting down", "shutdown", false, true, false}
	causeMaxDuration = closeCause{ws.StatusGoingAway,
		"maximum connection duration reached", "max_duration", true, false, true}
	causeIdle = closeCause{ws.StatusNormalClosure,
		"idle timeout", "idle_timeout", false, false, true}
	causeSlowReader = closeCause{ws.StatusPolicyViolation,
		"send queue full (signaling.send_queue_length): client is not reading fast enough", "send_queue_full", false, false, false}
	causePingTimeout = closeCause{ws.StatusGoingAway,
		"ping timeout", "ping_timeout", false, true, false}
	causeBinary = closeCause{ws.StatusUnsupportedData,
		"binary frames are not supported; send JSON text frames", "binary_frame", false, false, false}
	causeBusError = closeCause{ws.StatusInternalServerError,
		"messages cannot be relayed; reconnect", "bus_error", false, false, false}
)

// outbound is one frame waiting to be written: a delivery (env), a text
// message already encoded (raw), or a whole control frame (control).
type outbound struct {
	env     bus.Envelope
	raw     []byte
	control []byte
}

// delivery reports whether o is an envelope the bus handed over (and
// counted as delivered), as opposed to a frame the server made.
func (o *outbound) delivery() bool { return o.raw == nil && o.control == nil }

// conn is one accepted WebSocket connection. It is the bus.Handler of its
// address.
//
// An idle connection costs no goroutine when it can be parked (see
// reader.go) and one timer: a reader goroutine runs only while the client
// has sent something, the writer goroutine only while there is something
// to write, and the keepalive, pong, idle, GO_AWAY, duration and closing
// clocks share a single timer armed for whichever is due first.
type conn struct {
	hub  *Hub
	id   uint64
	addr bus.Address
	// channel keeps the one shared copy of the channel ARN that addr uses:
	// a channel's connections would otherwise each hold their own.
	channel unique.Handle[string]
	ttl     atomic.Int64 // nanoseconds; the channel's message TTL, updated live (see setTTL)
	sub     bus.Subscription
	backlog []bus.Envelope // mailbox content handed over by activate
	ws      *wsserver.Conn
	netConn net.Conn      // the upgraded connection (usually *tls.Conn)
	park    *netpark.Conn // the socket under netConn when it can be parked; nil otherwise
	resume  func()        // onReadable, kept to arm the poller without allocating
	parked  atomic.Bool   // no goroutine reads: the poller or abort will start one
	// Owned by the reader of the moment (see readParked): whether it waits
	// with a read deadline before parking, and when it last parked (0
	// before the first time).
	lingering bool
	parkedAt  mono
	wg        sync.WaitGroup // writer goroutines
	timer     *time.Timer    // the connection's clocks; see onTimer

	// writeMu makes each network write whole: the writer's batches and
	// the reader's last frames (a close echo) never interleave. It also
	// guards closeSent: once a close frame went out (the server's, or the
	// echo of the client's), nothing more is written (RFC 6455 5.5.1).
	writeMu   sync.Mutex
	closeSent bool

	lastActivity atomic.Int64 // mono reading of the last client-initiated frame

	// Guarded by mu: the send queue, the requests to the writer and the
	// state of the clocks.
	mu         sync.Mutex
	queue      []outbound
	dead       bool        // Deliver refuses: the connection is closing
	goAway     bool        // GO_AWAY requested
	closing    *closeCause // close requested; first request wins
	started    bool        // serve runs: writers may start
	writing    bool        // a writer goroutine runs (or the connection is closing)
	finished   bool        // serve is ending: no goroutine may start
	goAwaySent bool        // owned by the writer of the moment
	clocks     connClocks
	// Pacing of the senders (pacing.go): drained is non-nil while the
	// queue is over the high-water mark and is closed when the writer
	// takes it; paceGivenUp is set when a sender waited for it in vain.
	drained     chan struct{}
	paceGivenUp bool

	// Owned by the reader goroutine.
	limits [3]bucket // indexed by actionIndex; the rules are the hub's
}

var _ bus.Handler = (*conn)(nil)

// ttlUnknown is a connection's TTL before its channel was looked up.
const ttlUnknown = -1

func newConn(h *Hub, addr bus.Address) *conn {
	now := h.now()
	c := &conn{
		hub:     h,
		id:      h.nextID.Add(1),
		addr:    addr,
		channel: unique.Make(addr.Channel),
	}
	c.addr.Channel = c.channel.Value()
	c.ttl.Store(ttlUnknown)
	for i, rule := range h.messageRules {
		c.limits[i] = rule.start(now)
	}
	return c
}

// setTTL applies the TTL the channel lookup found, unless
// Hub.UpdateChannelTTL set one meanwhile. The connection is registered
// before the lookup, and an update stores the new TTL before it calls the
// hub; so an update whose call came before the registration is read by
// the lookup, and one whose call came after has set the connection's TTL,
// which the lookup's answer, possibly older, must not overwrite.
func (c *conn) setTTL(ttl time.Duration) {
	c.ttl.CompareAndSwap(ttlUnknown, int64(ttl))
}

func actionIndex(action string) int {
	switch action {
	case kvsapi.ActionSDPOffer:
		return 0
	case kvsapi.ActionSDPAnswer:
		return 1
	default:
		return 2
	}
}

// Deliver implements bus.Handler: it queues env for the writer.
func (c *conn) Deliver(env bus.Envelope) bool { return c.push(outbound{env: env}) }

// Displaced implements bus.Handler.
func (c *conn) Displaced() {
	c.hub.handovers.displaced(c)
	c.requestClose(causeReplaced)
}

// ChannelClosed implements bus.Handler.
func (c *conn) ChannelClosed() { c.requestClose(causeChannelDeleted) }

// push queues a frame without blocking. A full queue marks the connection
// as a slow reader: it is closed and refuses everything from then on.
func (c *conn) push(o outbound) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return false
	}
	if len(c.queue) >= c.hub.cfg.SendQueueLength {
		c.dead = true
		if c.closing == nil {
			c.closing = &causeSlowReader
		}
		c.hub.metrics.dropped.WithLabelValues(causeSlowReader.metric).Inc()
		c.releaseSendersLocked()
		c.startWriterLocked()
		return false
	}
	if c.queue == nil {
		c.queue = newQueue()
	}
	c.queue = append(c.queue, o)
	c.noteQueuedLocked()
	c.startWriterLocked()
	return true
}

// queueChunk is the capacity of the queues that are recycled: a writer
// usually takes a few frames at a time. A queue that grew past it is left
// to the garbage collector.
const queueChunk = 16

// queuePool recycles send queues, so that a connection that gets a message
// now and then does not allocate a queue for each, while an idle one holds
// none. It holds array pointers, which Put stores without allocating.
var queuePool = sync.Pool{New: func() any { return new([queueChunk]outbound) }}

// newQueue returns an empty queue from the pool.
func newQueue() []outbound { return queuePool.Get().(*[queueChunk]outbound)[:0] }

// recycleQueue gives q back to the pool if it came from it, emptied so
// that the pool keeps no payload alive.
func recycleQueue(q []outbound) {
	if cap(q) != queueChunk {
		return
	}
	q = q[:queueChunk]
	clear(q)
	queuePool.Put((*[queueChunk]outbound)(q))
}

// startWriterLocked starts the writer goroutine unless one runs or the
// connection is not served (yet, or any more). c.mu is held.
func (c *conn) startWriterLocked() {
	if c.writing || !c.started || c.finished {
		return
	}
	c.writing = true
	c.wg.Add(1)
	go c.writeLoop()
}

// requestGoAway asks the writer to send GO_AWAY (once).
func (c *conn) requestGoAway() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.goAway = true
	c.startWriterLocked()
}

// requestClose asks the writer to close the connection. The first cause
// is kept, except that a forced close overrides a graceful one. A forced
// close drops the connection here when a writer is running: that writer
// may be blocked on a client that does not read (for up to write_timeout)
// or, in a graceful close, wait for the client's close frame without
// looking at the cause again. What it had not written goes back to the bus
// (see writeBatch), so nothing is lost.
func (c *conn) requestClose(cause closeCause) {
	c.mu.Lock()
	cutShort := cause.abrupt && (c.closing == nil || !c.closing.abrupt) &&
		c.started && c.writing && !c.finished
	c.dead = true
	if c.closing == nil || cause.abrupt && !c.closing.abrupt {
		c.closing = &cause
	}
	c.startWriterLocked()
	c.mu.Unlock()
	if cutShort {
		c.abort()
	}
}

// takeQueue swaps the queue with spare (emptied) and returns what was
// queued, with the pending requests. When there is nothing to do, or the
// reader has ended, it returns ok false and the caller, the writer, must
// end: it is marked as gone under the same lock, so that the next push
// starts a new one.
func (c *conn) takeQueue(spare []outbound) (q []outbound, goAway bool, cause *closeCause, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished || len(c.queue) == 0 && !c.goAway && c.closing == nil {
		c.writing = false
		recycleQueue(spare)
		if len(c.queue) == 0 {
			recycleQueue(c.queue)
			c.queue = nil // an idle connection holds no queue
		}
		return nil, false, nil, false
	}
	q = c.queue
	c.queue = spare[:0]
	c.paceGivenUp = false
	c.releaseSendersLocked()
	goAway = c.goAway
	c.goAway = false
	return q, goAway, c.closing, true
}

// closeCauseOrNil returns the requested close cause, if any.
func (c *conn) closeCauseOrNil() *closeCause {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// abandon undoes admit when the upgrade fails. The subscription was never
// activated, so the mail for the address is still in the bus.
func (c *conn) abandon() {
	c.requestClose(causeShutdownForced)
	c.sub.Unsubscribe()
	c.handBack() // it never took mail, but a newer connection may wait for this
	c.hub.unregister(c)
}

// attach takes over the upgraded connection. When the socket under it was
// accepted by a netpark listener and the hub has a poller, the connection
// will be parked between the client's frames.
func (c *conn) attach(w *wsserver.Conn) {
	c.ws, c.netConn = w, w.NetConn()
	raw := c.netConn
	if tc, ok := raw.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if pc, ok := raw.(*netpark.Conn); ok && c.hub.poller != nil {
		c.park = pc
		c.resume = c.onReadable
	}
}

// activate hands the address's mailbox over to the upgraded connection;
// from then on the bus delivers to it. A connection the bus cannot serve
// is closed.
func (c *conn) activate(ctx context.Context) {
	c.awaitPredecessor(ctx)
	backlog, err := c.sub.Activate(ctx)
	if err != nil {
		c.hub.log.Warn("signaling mailbox handover failed", "conn", c.id, "error", err)
		c.requestClose(causeBusError)
		return
	}
	c.mu.Lock()
	c.backlog = backlog
	c.mu.Unlock()
}

// serve runs the connection: it starts the clocks and the writer for
// waiting mail, then reads. A parked connection returns this goroutine as
// soon as the client has nothing more to say; otherwise the goroutine
// reads until the connection ends.
func (c *conn) serve() {
	c.begin()
	if c.park == nil {
		c.end(c.readLoop())
		return
	}
	c.park.SetNonblocking(true)
	c.readParked()
}

// begin counts the connection and starts its clocks and, when mail is
// already waiting, its writer.
func (c *conn) begin() {
	h := c.hub
	role := c.addr.Role.String()
	h.metrics.connects.WithLabelValues(role).Inc()
	h.metrics.connections.WithLabelValues(role).Inc()
	h.log.Debug("signaling connection accepted", "conn", c.id, "role", role,
		"client_id", c.addr.ClientID, "channel", c.addr.Channel, "backlog", len(c.backlog), "parked", c.park != nil)
	c.touch()
	c.startClocks()
	c.mu.Lock()
	c.started = true
	if len(c.backlog) > 0 || len(c.queue) > 0 || c.goAway || c.closing != nil {
		c.startWriterLocked()
	}
	c.mu.Unlock()
}

// abort drops the network connection without a close handshake. A reader
// that is running sees the connection fail and ends it; a parked one is
// woken for the same purpose. Under TLS it closes the TCP socket itself:
// tls.Conn.Close would first send a close_notify alert, which blocks for
// up to 5 seconds on a client that does not read.
func (c *conn) abort() {
	socket := c.netConn
	if tc, ok := socket.(*tls.Conn); ok {
		socket = tc.NetConn()
	}
	_ = socket.Close()
	if c.park != nil && c.parked.CompareAndSwap(true, false) {
		c.hub.poller.Unwatch(c.park)
		go c.readParked()
	}
}

// end releases the connection once its reader has stopped with readErr.
// Only the reader calls it, once.
func (c *conn) end(readErr error) {
	h := c.hub
	// Queue mail for this address again as early as possible.
	c.timer.Stop()
	c.mu.Lock()
	c.dead = true
	c.finished = true
	c.releaseSendersLocked()
	c.mu.Unlock()
	c.sub.Unsubscribe()
	// Make a writer blocked on the network give up.
	_ = c.netConn.SetWriteDeadline(time.Now())
	c.wg.Wait()
	_ = c.netConn.Close()
	c.handBack()

	reason := disconnectReason(readErr)
	if cause := c.closeCauseOrNil(); cause != nil {
		reason = cause.metric
	}
	role := c.addr.Role.String()
	h.metrics.connections.WithLabelValues(role).Dec()
	h.metrics.disconnects.WithLabelValues(reason).Inc()
	h.unregister(c)
	h.log.Debug("signaling connection closed", "conn", c.id, "reason", reason, "error", readErr)
}

// handBackTimeout bounds the bus call that gives unwritten mail back.
const handBackTimeout = 5 * time.Second

// handBack gives the bus the envelopes this connection took but never
// wrote. Publish counted them delivered, and the bus contract keeps mail
// a dying connection cannot take: they go to the next holder of the
// address (after a takeover, the newer connection) for the rest of their
// TTL. It runs once Deliver refuses and no writer can run or take the
// queue again: from end, and from the writer of a close that does not
// flush, which hands back at once so that a newer holder of the address
// need not wait for the closing handshake (handover.go). A second call
// finds nothing. Either way, a newer connection waiting for this one's
// hand-back is told it is done.
func (c *conn) handBack() {
	defer c.hub.handovers.handedBack(c)
	envs := c.unwritten()
	if len(envs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), handBackTimeout)
	defer cancel()
	err := c.hub.bus.Requeue(ctx, c.addr, envs)
	switch {
	case err == nil:
		c.hub.log.Debug("signaling unwritten messages handed back", "conn", c.id, "messages", len(envs))
	case errors.Is(err, bus.ErrChannelClosed):
		// The channel was deleted: its mail is gone by design.
	default:
		c.hub.log.Warn("signaling messages lost: neither written nor handed back",
			"conn", c.id, "messages", len(envs), "error", err)
	}
}

// unwritten takes the envelopes still waiting in the backlog and the
// queue, oldest first; the frames the server made itself are dropped.
func (c *conn) unwritten() []bus.Envelope {
	c.mu.Lock()
	defer c.mu.Unlock()
	envs := c.backlog
	for i := range c.queue {
		if c.queue[i].delivery() {
			envs = append(envs, c.queue[i].env)
		}
	}
	c.backlog, c.queue = nil, nil
	return envs
}

// errClientClosed ends the reader when the client sent its close frame.
var errClientClosed = errors.New("signaling: the client closed the connection")

// disconnectReason names why the reader stopped when the server did not
// ask for the close.
func disconnectReason(err error) string {
	var ce *wsserver.CloseError
	switch {
	case errors.Is(err, errClientClosed):
		return "client_closed"
	case errors.As(err, &ce) && ce.Code == ws.StatusMessageTooBig:
		return "read_limit"
	case errors.As(err, &ce):
		return "protocol_error"
	default:
		return "connection_lost"
	}
}
