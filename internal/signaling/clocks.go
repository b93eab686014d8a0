package signaling

import "time"

// connClocks are the deadlines of one connection, kept by a single timer:
// the next server ping, the pong that ping awaits, GO_AWAY at max duration
// minus grace, the close at max duration, and the end of a closing
// handshake the server started. The idle deadline follows from
// lastActivity. Guarded by conn.mu.
type connClocks struct {
	nextPing   time.Time // zero when pings are off
	pongDue    time.Time // zero when no ping awaits its pong
	goAwayAt   time.Time
	expireAt   time.Time
	closeBy    time.Time // zero unless the server's close frame awaits the client's
	goAwayDone bool
}

// startClocks arms the connection's timer.
func (c *conn) startClocks() {
	cfg := &c.hub.cfg
	now := time.Now()
	c.mu.Lock()
	c.clocks = connClocks{
		goAwayAt: now.Add(cfg.MaxConnectionDuration.Std() - cfg.GoAwayGrace.Std()),
		expireAt: now.Add(cfg.MaxConnectionDuration.Std()),
	}
	if cfg.PingInterval > 0 {
		c.clocks.nextPing = now.Add(cfg.PingInterval.Std())
	}
	next := c.nextDeadlineLocked()
	c.mu.Unlock()
	// Armed in two steps so that the field is set before the timer fires.
	c.timer = time.AfterFunc(time.Hour, c.onTimer)
	c.timer.Reset(time.Until(next))
}

// idleDeadline is when the connection becomes idle unless the client
// sends something.
func (c *conn) idleDeadline() time.Time {
	return time.Unix(0, c.lastActivity.Load()).Add(c.hub.cfg.IdleTimeout.Std())
}

// nextDeadlineLocked is the earliest deadline still to come. Once a close
// is under way only the closing handshake's deadline counts.
func (c *conn) nextDeadlineLocked() time.Time {
	if c.closing != nil {
		if !c.clocks.closeBy.IsZero() {
			return c.clocks.closeBy
		}
		return c.clocks.expireAt
	}
	next := c.clocks.expireAt
	for _, t := range []time.Time{c.idleDeadline(), c.clocks.nextPing, c.clocks.pongDue, c.clocks.closeBy} {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	if !c.clocks.goAwayDone && c.clocks.goAwayAt.Before(next) {
		next = c.clocks.goAwayAt
	}
	return next
}

// pongReceived stops the pong clock: the client is alive.
func (c *conn) pongReceived() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clocks.pongDue = time.Time{}
}

// armClosingClock gives the client until t to answer the server's close
// frame.
func (c *conn) armClosingClock(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return
	}
	c.clocks.closeBy = t
	c.timer.Reset(time.Until(c.nextDeadlineLocked()))
}

// onTimer runs when a deadline has come: it sends a ping, asks for
// GO_AWAY, or closes an idle, expired or unanswering connection, or drops
// one whose client did not answer the server's close frame; then it
// re-arms the timer for the next deadline, unless a close has just been
// asked for (the closing handshake arms its own).
func (c *conn) onTimer() {
	now := time.Now()
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	if c.closing != nil {
		overdue := !c.clocks.closeBy.IsZero() && !now.Before(c.clocks.closeBy)
		if !overdue {
			c.timer.Reset(time.Until(c.nextDeadlineLocked()))
		}
		c.mu.Unlock()
		if overdue {
			c.abort() // the client did not answer the close frame in time
		}
		return
	}
	var cause *closeCause
	switch {
	case !now.Before(c.clocks.expireAt):
		cause = &causeMaxDuration
	case !now.Before(c.idleDeadline()):
		cause = &causeIdle
	case !c.clocks.pongDue.IsZero() && !now.Before(c.clocks.pongDue):
		cause = &causePingTimeout
	}
	if cause != nil {
		c.mu.Unlock()
		if cause == &causePingTimeout {
			c.hub.metrics.dropped.WithLabelValues(causePingTimeout.metric).Inc()
		}
		c.requestClose(*cause)
		return
	}
	goAway := !c.clocks.goAwayDone && !now.Before(c.clocks.goAwayAt)
	if goAway {
		c.clocks.goAwayDone = true
	}
	ping := false
	if !c.clocks.nextPing.IsZero() && !now.Before(c.clocks.nextPing) {
		c.clocks.nextPing = now.Add(c.hub.cfg.PingInterval.Std())
		ping = c.clocks.pongDue.IsZero() // one ping awaits its pong at a time
		if ping {
			c.clocks.pongDue = now.Add(c.hub.cfg.PongTimeout.Std())
		}
	}
	c.timer.Reset(time.Until(c.nextDeadlineLocked()))
	c.mu.Unlock()
	if goAway {
		c.requestGoAway()
	}
	if ping {
		c.push(outbound{control: pingFrame})
	}
}
