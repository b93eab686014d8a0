package signaling

import "time"

// connClocks are the deadlines of one connection, kept by a single timer:
// the next server ping, GO_AWAY at max duration minus grace, and the close
// at max duration. The idle deadline follows from lastActivity. Guarded by
// conn.mu.
type connClocks struct {
	nextPing   time.Time // zero when pings are off
	goAwayAt   time.Time
	expireAt   time.Time
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

// nextDeadlineLocked is the earliest deadline still to come.
func (c *conn) nextDeadlineLocked() time.Time {
	next := c.clocks.expireAt
	for _, t := range []time.Time{c.idleDeadline(), c.clocks.nextPing} {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	if !c.clocks.goAwayDone && c.clocks.goAwayAt.Before(next) {
		next = c.clocks.goAwayAt
	}
	return next
}

// onTimer runs when a deadline has come: it starts a ping, asks for
// GO_AWAY, or closes an idle or expired connection, then re-arms the
// timer for the next deadline.
func (c *conn) onTimer() {
	now := time.Now()
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	idle := !now.Before(c.idleDeadline())
	expired := !now.Before(c.clocks.expireAt)
	goAway := !c.clocks.goAwayDone && !now.Before(c.clocks.goAwayAt)
	if goAway {
		c.clocks.goAwayDone = true
	}
	ping := !c.clocks.nextPing.IsZero() && !now.Before(c.clocks.nextPing)
	if ping {
		c.clocks.nextPing = now.Add(c.hub.cfg.PingInterval.Std())
	}
	next := c.nextDeadlineLocked()
	c.mu.Unlock()

	switch {
	case expired:
		c.requestClose(causeMaxDuration)
		return
	case idle:
		c.requestClose(causeIdle)
		return
	}
	if goAway {
		c.requestGoAway()
	}
	if ping {
		c.startPing()
	}
	c.timer.Reset(time.Until(next))
}
