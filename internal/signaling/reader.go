package signaling

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/internal/bus"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// readLoop reads client frames until the connection ends and returns the
// error that ended it. Reads are not bound to a context: the connection
// ends them by closing (a context would cost a registration per read).
func (c *conn) readLoop() error {
	ctx := context.Background()
	var buf bytes.Buffer
	for {
		typ, r, err := c.ws.Reader(ctx)
		if err != nil {
			return err
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return err // over the read limit the library has sent 1009
		}
		c.touch()
		if c.closeCauseOrNil() != nil {
			continue // closing: the rest is discarded
		}
		if typ != websocket.MessageText {
			c.hub.metrics.rejected.WithLabelValues("binary_frame").Inc()
			c.requestClose(causeBinary)
			continue
		}
		c.handleFrame(ctx, buf.Bytes())
		if buf.Cap() > 4*c.hub.cfg.MaxEventBytes {
			buf = bytes.Buffer{} // do not keep a rare large frame's buffer
		}
	}
}

// handleFrame decodes, checks and relays one client message; a refused
// message is answered (or not) by reject and never ends the connection.
func (c *conn) handleFrame(ctx context.Context, frame []byte) {
	msg, merr := decodeClientMessage(frame)
	if merr == nil {
		merr = validateClientMessage(&msg, c.addr.Role, c.hub.cfg.MaxPayloadLength)
	}
	if merr == nil && !c.limits[actionIndex(msg.Action)].allow(c.hub.now()) {
		merr = &messageError{
			code:          kvsapi.CodeClientLimitExceeded,
			reason:        "rate_limited",
			description:   "Too many " + msg.Action + " messages on this connection; slow down.",
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
	if n := eventSize(to.Role == bus.RoleMaster, env); n > h.cfg.MaxEventBytes {
		return invalidMessage("event_too_large", msg.CorrelationID,
			"the delivered message would be %d bytes, over the %d-byte limit of KVS SDK peers; send a smaller messagePayload",
			n, h.cfg.MaxEventBytes)
	}
	outcome, err := h.bus.Publish(ctx, to, env, h.publishOptions(time.Duration(c.ttl.Load())))
	switch {
	case err == nil:
	case errors.Is(err, bus.ErrMailboxFull):
		return &messageError{code: kvsapi.CodeClientLimitExceeded, reason: "mailbox_full", correlationID: msg.CorrelationID,
			description: "The recipient is not connected and the channel's message queue is full; retry later."}
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
	c.push(outbound{raw: statusResponseFrame(e)})
}
