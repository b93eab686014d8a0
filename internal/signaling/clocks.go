package signaling

import "time"

// mono is a reading of the monotonic clock: nanoseconds since monoStart.
// Connection clocks use it rather than time.Time, which takes three times
// the memory in every one of many thousands of idle connections; like
// time.Time's monotonic reading, it does not move when the wall clock is
// set. Zero means "not set" (no real reading is that early).
type mono int64

var monoStart = time.Now()

func monoNow() mono { return mono(time.Since(monoStart)) }

// after returns the reading d after m.
func (m mono) after(d time.Duration) mono { return m + mono(d) }

// reached reports whether the clock set to m (not zero) has come at now.
func (m mono) reached(now mono) bool { return m != 0 && now >= m }

// connClocks are the deadlines of one connection, kept by a single timer:
// the next server ping, the pong that ping awaits, GO_AWAY at max duration
// minus grace, the close at max duration, and the end of a closing
// handshake the server started. The idle deadline follows from
// lastActivity. Guarded by conn.mu.
type connClocks struct {
	nextPing   mono // zero when pings are off
	pongDue    mono // zero when no ping awaits its pong
	goAwayAt   mono
	expireAt   mono
	closeBy    mono // zero unless the server's close frame awaits the client's
	goAwayDone bool
}

// startClocks arms the connection's timer.
func (c *conn) startClocks() {
	cfg := &c.hub.cfg
	now := monoNow()
	c.mu.Lock()
	c.clocks = connClocks{
		goAwayAt: now.after(cfg.MaxConnectionDuration.Std() - cfg.GoAwayGrace.Std()),
		expireAt: now.after(cfg.MaxConnectionDuration.Std()),
	}
	if cfg.PingInterval > 0 {
		c.clocks.nextPing = now.after(cfg.PingInterval.Std())
	}
	next := c.nextDeadlineLocked()
	c.mu.Unlock()
	// Armed in two steps so that the field is set before the timer fires.
	c.timer = time.AfterFunc(time.Hour, c.onTimer)
	c.timer.Reset(until(next))
}

// until is the time left before m.
func until(m mono) time.Duration { return time.Duration(m - monoNow()) }

// touch records activity from the client for the idle timer.
func (c *conn) touch() { c.lastActivity.Store(int64(monoNow())) }

// idleDeadline is when the connection becomes idle unless the client
// sends something.
func (c *conn) idleDeadline() mono {
	return mono(c.lastActivity.Load()).after(c.hub.cfg.IdleTimeout.Std())
}

// nextDeadlineLocked is the earliest deadline still to come. Once a close
// is under way only the closing handshake's deadline counts.
func (c *conn) nextDeadlineLocked() mono {
	if c.closing != nil {
		if c.clocks.closeBy != 0 {
			return c.clocks.closeBy
		}
		return c.clocks.expireAt
	}
	next := c.clocks.expireAt
	for _, t := range []mono{c.idleDeadline(), c.clocks.nextPing, c.clocks.pongDue} {
		if t != 0 && t < next {
			next = t
		}
	}
	if !c.clocks.goAwayDone && c.clocks.goAwayAt < next {
		next = c.clocks.goAwayAt
	}
	return next
}

// pongReceived stops the pong clock: the client is alive.
func (c *conn) pongReceived() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clocks.pongDue = 0
}

// armClosingClock gives the client d to answer the server's close frame.
func (c *conn) armClosingClock(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return
	}
	c.clocks.closeBy = monoNow().after(d)
	c.timer.Reset(until(c.nextDeadlineLocked()))
}

// onTimer runs when a deadline has come: it sends a ping, asks for
// GO_AWAY, or closes an idle, expired or unanswering connection, or drops
// one whose client did not answer the server's close frame; then it
// re-arms the timer for the next deadline, unless a close has just been
// asked for (the closing handshake arms its own).
func (c *conn) onTimer() {
	now := monoNow()
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	if c.closing != nil {
		// Overdue: the client did not answer the close frame in time, or
		// the frame has not even gone out (the writer is stuck on a client
		// that does not read) and the connection's maximum duration has
		// passed, which nothing extends.
		overdue := c.clocks.closeBy.reached(now) || c.clocks.closeBy == 0 && c.clocks.expireAt.reached(now)
		if !overdue {
			c.timer.Reset(until(c.nextDeadlineLocked()))
		}
		c.mu.Unlock()
		if overdue {
			c.abort()
		}
		return
	}
	var cause *closeCause
	switch {
	case c.clocks.expireAt.reached(now):
		cause = &causeMaxDuration
	case c.idleDeadline().reached(now):
		cause = &causeIdle
	case c.clocks.pongDue.reached(now):
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
	goAway := !c.clocks.goAwayDone && c.clocks.goAwayAt.reached(now)
	if goAway {
		c.clocks.goAwayDone = true
	}
	ping := false
	if c.clocks.nextPing.reached(now) {
		c.clocks.nextPing = now.after(c.hub.cfg.PingInterval.Std())
		ping = c.clocks.pongDue == 0 // one ping awaits its pong at a time
		if ping {
			c.clocks.pongDue = now.after(c.hub.cfg.PongTimeout.Std())
		}
	}
	c.timer.Reset(until(c.nextDeadlineLocked()))
	c.mu.Unlock()
	if goAway {
		c.requestGoAway()
	}
	if ping {
		c.push(outbound{control: pingFrame})
	}
}
