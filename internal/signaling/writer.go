package signaling

import (
	"context"
	"errors"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/internal/bus"
)

// connTimers are the writer's clocks: keepalive pings, idle timeout and the
// maximum connection duration (GO_AWAY at duration-grace, close at
// duration). A nil channel never fires.
type connTimers struct {
	ping                  *time.Ticker
	idle, goAway, expire  *time.Timer
	pingC, goAwayC, idleC <-chan time.Time
}

func (c *conn) startTimers() *connTimers {
	cfg := &c.hub.cfg
	t := &connTimers{
		idle:   time.NewTimer(cfg.IdleTimeout.Std()),
		goAway: time.NewTimer(cfg.MaxConnectionDuration.Std() - cfg.GoAwayGrace.Std()),
		expire: time.NewTimer(cfg.MaxConnectionDuration.Std()),
	}
	t.idleC, t.goAwayC = t.idle.C, t.goAway.C
	if cfg.PingInterval > 0 {
		t.ping = time.NewTicker(cfg.PingInterval.Std())
		t.pingC = t.ping.C
	}
	return t
}

func (t *connTimers) stop() {
	t.idle.Stop()
	t.goAway.Stop()
	t.expire.Stop()
	if t.ping != nil {
		t.ping.Stop()
	}
}

// writeLoop is the only goroutine that writes data frames to the
// connection. It writes the mailbox backlog first, then whatever is queued,
// and carries out GO_AWAY and close requests and the timers.
func (c *conn) writeLoop(ctx context.Context) {
	defer c.wg.Done()
	timers := c.startTimers()
	defer timers.stop()
	var (
		buf        []byte
		batch      []outbound
		goAwaySent bool
	)
	for _, env := range c.backlog {
		buf = c.encode(buf[:0], outbound{env: env})
		if !c.write(ctx, buf) {
			return
		}
	}
	c.backlog = nil
	for {
		var goAway bool
		var cause *closeCause
		batch, goAway, cause = c.takeQueue(batch)
		if (goAway || cause != nil && cause.goAway) && !goAwaySent {
			goAwaySent = true
			if !c.write(ctx, goAwayFrame) {
				return
			}
		}
		if cause != nil {
			c.close(*cause)
			return
		}
		for i := range batch {
			buf = c.encode(buf[:0], batch[i])
			batch[i] = outbound{} // release the payload
			if !c.write(ctx, buf) {
				return
			}
		}
		if len(batch) > 0 {
			continue // more may have arrived meanwhile
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-timers.pingC:
			c.startPing(ctx)
		case <-timers.idleC:
			c.checkIdle(timers.idle)
		case <-timers.goAwayC:
			c.requestGoAway()
		case <-timers.expire.C:
			c.requestClose(causeMaxDuration)
		}
	}
}

// encode appends the frame for o to dst.
func (c *conn) encode(dst []byte, o outbound) []byte {
	if o.raw != nil {
		return append(dst, o.raw...)
	}
	return appendEvent(dst, c.addr.Role == bus.RoleMaster, o.env)
}

// write sends one text frame within the write timeout. On failure the
// library has closed the connection, which ends the reader too.
func (c *conn) write(ctx context.Context, frame []byte) bool {
	wctx, cancel := context.WithTimeout(ctx, c.hub.cfg.WriteTimeout.Std())
	err := c.ws.Write(wctx, websocket.MessageText, frame)
	cancel()
	if err != nil && ctx.Err() == nil {
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
	if c.netConn != nil {
		_ = c.netConn.SetDeadline(time.Now().Add(h.cfg.WriteTimeout.Std()))
	}
	_ = c.ws.Close(cause.code, cause.reason)
}

// checkIdle closes the connection when nothing was received for the idle
// timeout, or re-arms the timer for the remaining time.
func (c *conn) checkIdle(t *time.Timer) {
	idle := c.hub.cfg.IdleTimeout.Std()
	since := time.Since(time.Unix(0, c.lastActivity.Load()))
	if since >= idle {
		c.requestClose(causeIdle)
		return
	}
	t.Reset(idle - since)
}

// startPing sends a server ping from a short-lived goroutine (the library's
// Ping waits for the pong, which the writer must not do). A peer that does
// not answer within the pong timeout is dropped.
func (c *conn) startPing(ctx context.Context) {
	if !c.pinging.CompareAndSwap(false, true) {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.pinging.Store(false)
		pctx, cancel := context.WithTimeout(ctx, c.hub.cfg.PongTimeout.Std())
		defer cancel()
		err := c.ws.Ping(pctx)
		// Only a missing pong counts; any other error means the connection
		// is already ending for another reason.
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && c.closeCauseOrNil() == nil {
			c.hub.metrics.dropped.WithLabelValues(causePingTimeout.metric).Inc()
			c.requestClose(causePingTimeout)
		}
	}()
}
