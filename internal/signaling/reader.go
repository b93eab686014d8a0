package signaling

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboard-rtc/switchboard/internal/bus"
	"github.com/switchboard-rtc/switchboard/internal/netpark"
	"github.com/switchboard-rtc/switchboard/internal/tlsidle"
	"github.com/switchboard-rtc/switchboard/internal/wsserver"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Reading. A connection whose socket can be parked (see attach) has no
// goroutine while the client is silent: the poller calls onReadable when
// bytes arrive, readParked handles every complete frame, and when the
// socket has nothing more it arms the poller again and returns. Parking is
// safe only at that point: the socket reported "would block" to TLS, so
// neither TLS nor the frame reader holds a complete record or frame that
// the socket will never announce again (a partial one stays in their
// buffers, and the rest of it makes the socket readable). Other
// connections keep a goroutine in readLoop.

// onReadable is the poller's callback: the parked connection's socket
// has something. It reads unless another goroutine took the reading over
// (abort, at the same moment).
func (c *conn) onReadable() {
	if c.parked.CompareAndSwap(true, false) {
		c.readParked()
	}
}

// readParked reads and handles what the client sent, then parks the
// connection again or ends it. Exactly one goroutine reads at a time: the
// one that set parked from true to false, or serve's at the start.
//
// A reader that runs out of bytes parks the connection at once, unless the
// connection was parked less than Hub.parkAfter ago: a busy connection
// then waits in Go's own poller, with a read deadline parkAfter away, and
// is parked only if its socket is empty when that deadline comes. Parking
// costs two system calls and a goroutine start per wake-up, which a busy
// connection would otherwise pay for every message; this way it pays them
// at most once per parkAfter, while a quiet one (a new connection, a pong
// every few seconds) gives its goroutine back as soon as it is done.
func (c *conn) readParked() {
	for {
		ev, err := c.ws.Next()
		if wouldBlock(err) {
			if (c.lingering || !c.recentlyParked()) && c.parkAgain() {
				return
			}
			c.linger()
			continue
		}
		if err == nil {
			err = c.handleEvent(ev)
		}
		if err != nil {
			c.end(c.lastWords(err))
			return
		}
	}
}

// defaultParkAfter is how long a connection with nothing to read keeps
// its reader before it is parked.
const defaultParkAfter = time.Second

// wouldBlock reports whether a read ended for lack of bytes: the socket is
// empty (nonblocking mode) or stayed empty until the linger deadline.
func wouldBlock(err error) bool {
	return errors.Is(err, netpark.ErrWouldBlock) || errors.Is(err, os.ErrDeadlineExceeded)
}

// recentlyParked reports whether the connection was last parked less than
// Hub.parkAfter ago.
func (c *conn) recentlyParked() bool {
	return c.parkedAt != 0 && !c.parkedAt.after(c.hub.parkAfter).reached(monoNow())
}

// linger makes the next reads wait in Go's poller for up to
// Hub.parkAfter.
func (c *conn) linger() {
	c.lingering = true
	c.park.SetNonblocking(false)
	_ = c.netConn.SetReadDeadline(time.Now().Add(c.hub.parkAfter))
}

// parkAgain arms the poller for the connection's next bytes and reports
// whether this goroutine may return. When the poller cannot take the
// connection (it closed with the hub, or the connection is closing), the
// goroutine reads on, blocking, unless abort took the reading over.
func (c *conn) parkAgain() bool {
	c.lingering = false
	c.parkedAt = monoNow()
	c.park.SetNonblocking(true)
	_ = c.netConn.SetReadDeadline(time.Time{})
	if tc, ok := c.netConn.(*tls.Conn); ok {
		tlsidle.Release(tc) // a parked connection keeps no empty TLS buffers
	}
	c.parked.Store(true)
	err := c.hub.poller.Watch(c.park, c.resume)
	if err == nil {
		return true
	}
	if !c.parked.CompareAndSwap(true, false) {
		return true // abort took over
	}
	c.hub.log.Debug("signaling connection read without parking", "conn", c.id, "error", err)
	c.park.SetNonblocking(false)
	return false
}

// readLoop reads and handles client frames until the connection ends and
// returns the error that ended it.
func (c *conn) readLoop() error {
	for {
		ev, err := c.ws.Next()
		if err == nil {
			err = c.handleEvent(ev)
		}
		if err != nil {
			return c.lastWords(err)
		}
	}
}

// handleEvent acts on one frame from the client; an error ends the
// connection.
func (c *conn) handleEvent(ev wsserver.Event) error {
	switch ev.Kind {
	case wsserver.Ping:
		c.touch() // a client ping is activity (spec 6.8)
		c.push(outbound{control: wsserver.AppendPong(nil, ev.Payload)})
	case wsserver.Pong:
		c.pongReceived()
	case wsserver.Close:
		c.echoClose(ev.Code)
		return errClientClosed
	case wsserver.Binary:
		c.touch()
		if c.closeCauseOrNil() == nil {
			c.hub.metrics.rejected.WithLabelValues("binary_frame").Inc()
			c.requestClose(causeBinary)
		}
	case wsserver.Text:
		c.touch()
		if c.closeCauseOrNil() == nil { // closing: the rest is discarded
			c.handleFrame(context.Background(), ev.Payload)
		}
	}
	return nil
}

// lastWords answers a protocol error with the close frame it calls for
// (1009 for a frame over the read limit, naming the setting, 1002 or 1007
// for a broken one) and returns err for end.
func (c *conn) lastWords(err error) error {
	var ce *wsserver.CloseError
	if errors.As(err, &ce) {
		reason := ce.Reason
		if ce.Code == ws.StatusMessageTooBig {
			reason += " (signaling.read_limit)"
		}
		c.writeFinal(ce.Code, reason)
	}
	return err
}

// echoClose answers the client's close frame with the same status, unless
// the server's own close frame went first (then this one completes the
// handshake).
func (c *conn) echoClose(code ws.StatusCode) {
	c.writeFinal(code, "") // 1005 gives an empty body
}

// handleFrame decodes, checks and relays one client message; a refused
// message is answered (or not) by reject and never ends the connection.
func (c *conn) handleFrame(ctx context.Context, frame []byte) {
	msg, merr := decodeClientMessage(frame)
	if merr == nil {
		merr = validateClientMessage(&msg, c.addr.Role, c.hub.cfg.MaxPayloadLength)
	}
	if i := actionIndex(msg.Action); merr == nil && !c.limits[i].allow(c.hub.messageRules[i], c.hub.now()) {
		merr = &messageError{
			code:          kvsapi.CodeClientLimitExceeded,
			reason:        "rate_limited",
			description:   c.hub.messageRefusals[i],
			correlationID: msg.CorrelationID,
		}
	}
	if merr == nil {
		merr = c.relay(ctx, &msg)
	}
	if merr != nil {
		c.reject(merr)
	}
}

// relay routes a valid message: a viewer's goes to the channel's master
// with senderClientId set; the master's goes to the viewer it names.
// Viewers can reach only the master.
func (c *conn) relay(ctx context.Context, msg *kvsapi.ClientMessage) *messageError {
	h := c.hub
	env := bus.Envelope{Type: msg.Action, Payload: msg.MessagePayload}
	var to bus.Address
	if c.addr.Role == bus.RoleMaster {
		to = bus.ViewerOf(c.addr.Account, c.addr.Channel, msg.RecipientClientID)
	} else {
		to = bus.MasterOf(c.addr.Account, c.addr.Channel)
		env.SenderClientID = c.addr.ClientID
	}
	if text := h.checkEventSize(to.Role, env, "messagePayload"); text != "" {
		return invalidMessage("event_too_large", msg.CorrelationID, "%s", text)
	}
	outcome, err := h.bus.Publish(ctx, to, env, h.publishOptions(time.Duration(c.ttl.Load())))
	switch {
	case err == nil:
	case errors.Is(err, bus.ErrMailboxFull):
		return &messageError{code: kvsapi.CodeClientLimitExceeded, reason: "mailbox_full", correlationID: msg.CorrelationID,
			description: h.mailboxFull("recipient")}
	case errors.Is(err, bus.ErrChannelClosed):
		return &messageError{code: kvsapi.CodeResourceNotFound, reason: "channel_closed", correlationID: msg.CorrelationID,
			description: kvsapi.ChannelNotFoundMessage}
	default:
		if ctx.Err() == nil {
			h.log.Warn("signaling publish failed", "conn", c.id, "error", err)
		}
		return &messageError{code: kvsapi.CodeInternalFailure, reason: "internal", correlationID: msg.CorrelationID,
			description: "The message could not be relayed; retry."}
	}
	h.metrics.messageRelayed(msg.Action, outcome)
	if h.log.Enabled(ctx, slog.LevelDebug) {
		h.log.Debug("signaling message relayed", "conn", c.id, "type", msg.Action,
			"to_role", to.Role.String(), "to", to.ClientID, "outcome", outcome.String(), "bytes", len(env.Payload))
	}
	if outcome == bus.Delivered && c.addr.Role == bus.RoleViewer {
		c.paceBehind(to) // only viewers: a slow viewer must not hold up its master's other viewers
	}
	return nil
}

// reject counts a refused message and answers it with a STATUS_RESPONSE
// when it carried a correlation id (spec 6.4.3).
func (c *conn) reject(e *messageError) {
	h := c.hub
	h.metrics.rejected.WithLabelValues(e.reason).Inc()
	if h.log.Enabled(context.Background(), slog.LevelDebug) {
		h.log.Debug("signaling message refused", "conn", c.id, "reason", e.reason,
			"error_type", e.code.Name, "correlation_id", e.correlationID)
	}
	if e.correlationID == "" {
		return
	}
	h.metrics.statusResponses.WithLabelValues(e.code.Name).Inc()
	if c.push(outbound{raw: statusResponseFrame(e)}) {
		// A client that sends faster than it reads its answers is paced
		// like a sender to a slow recipient.
		c.waitForDrain(c)
	}
}
