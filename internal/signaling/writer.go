package signaling

import (
	"context"
	"errors"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/internal/bus"
)

// writeLoop is the only goroutine that writes data frames to the
// connection, and it runs only while there is something to write: it
// writes the mailbox backlog first (on its first run), then whatever is
// queued, carries out GO_AWAY and close requests, and ends when the queue
// is empty. Frames written in one pass share TLS records and system calls
// (see coalescer).
func (c *conn) writeLoop() {
	defer c.wg.Done()
	c.mu.Lock()
	backlog := c.backlog
	c.backlog = nil
	c.mu.Unlock()
	var (
		buf   []byte
		batch []outbound
	)
	for i, env := range backlog {
		batch = append(batch, outbound{env: env})
		backlog[i] = bus.Envelope{}
	}
	if !c.writeBatch(&buf, batch, false) {
		return
	}
	for {
		q, goAway, cause, ok := c.takeQueue(batch)
		if !ok {
			return
		}
		batch = q
		sendGoAway := (goAway || cause != nil && cause.goAway) && !c.goAwaySent
		if sendGoAway {
			c.goAwaySent = true
		}
		if cause != nil {
			// What is still queued is dropped with the connection.
			clear(batch)
			if sendGoAway && !c.writeBatch(&buf, nil, true) {
				return
			}
			c.close(*cause)
			return
		}
		if !c.writeBatch(&buf, batch, sendGoAway) {
			return
		}
	}
}

// writeBatch writes GO_AWAY (when asked) and the frames of batch in one
// pass, then releases the payloads. It returns false when the connection
// failed; the writer then stays marked as running, so that no other
// starts, and the reader sees the connection end.
func (c *conn) writeBatch(buf *[]byte, batch []outbound, goAway bool) bool {
	if len(batch) == 0 && !goAway && !c.out.pending() {
		return true
	}
	c.out.hold(time.Now().Add(c.hub.cfg.WriteTimeout.Std()))
	ok := !goAway || c.write(goAwayFrame)
	for i := range batch {
		if ok {
			*buf = c.encode((*buf)[:0], batch[i])
			ok = c.write(*buf)
		}
		batch[i] = outbound{} // release the payload
	}
	if err := c.out.release(); err != nil {
		if ok {
			c.hub.log.Debug("signaling write failed", "conn", c.id, "error", err)
		}
		ok = false
	}
	if !ok {
		_ = c.ws.CloseNow()
	}
	if cap(*buf) > 4*c.hub.cfg.MaxEventBytes {
		*buf = nil // do not keep a rare large frame's buffer
	}
	return ok
}

// encode appends the frame for o to dst.
func (c *conn) encode(dst []byte, o outbound) []byte {
	if o.raw != nil {
		return append(dst, o.raw...)
	}
	return appendEvent(dst, c.addr.Role == bus.RoleMaster, o.env)
}

// write hands one text frame to the library. While the coalescer holds,
// this only copies it; the network write and its deadline come with
// release.
func (c *conn) write(frame []byte) bool {
	err := c.ws.Write(context.Background(), websocket.MessageText, frame)
	if err != nil {
		c.hub.log.Debug("signaling write failed", "conn", c.id, "error", err)
	}
	return err == nil
}

// close ends the connection for cause. A graceful close sends the close
// frame and waits for the client's; the reader goroutine receives it and
// returns. The whole handshake is bounded by the write timeout, so that a
// client that stopped reading cannot hold it up.
func (c *conn) close(cause closeCause) {
	h := c.hub
	h.log.Debug("signaling connection closing", "conn", c.id, "reason", cause.metric)
	if cause.abrupt {
		_ = c.ws.CloseNow()
		return
	}
	deadline := time.Now().Add(h.cfg.WriteTimeout.Std())
	c.out.writeThrough(deadline)
	if c.netConn != nil {
		_ = c.netConn.SetDeadline(deadline)
	}
	_ = c.ws.Close(cause.code, cause.reason)
}

// startPing sends a server ping from a short-lived goroutine (the library's
// Ping waits for the pong). A peer that does not answer within the pong
// timeout is dropped.
func (c *conn) startPing() {
	if !c.pinging.CompareAndSwap(false, true) {
		return
	}
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		c.pinging.Store(false)
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer c.pinging.Store(false)
		pctx, cancel := context.WithTimeout(context.Background(), c.hub.cfg.PongTimeout.Std())
		defer cancel()
		err := c.ws.Ping(pctx)
		// Only a missing pong counts; any other error means the connection
		// is already ending for another reason.
		if errors.Is(err, context.DeadlineExceeded) && c.closeCauseOrNil() == nil && !c.isFinished() {
			c.hub.metrics.dropped.WithLabelValues(causePingTimeout.metric).Inc()
			c.requestClose(causePingTimeout)
		}
	}()
}

func (c *conn) isFinished() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finished
}
