package signaling

import (
	"context"
	"sync"
	"time"
)

// Order across a takeover.
//
// Messages from one sender reach one recipient in the order they were sent
// (spec 6.6), also when the recipient's identity moves to a newer
// connection. The displaced connection may still hold mail it took and
// never wrote; it hands that back to the bus (handBack), and the bus gives
// it to the newer holder before anything queued after it. That order holds
// only if the newer connection takes its mailbox after the hand-back: a
// newer connection still deferred (see Hub.subscribe) finds the handed-back
// mail at the front of its mailbox, whereas one already active would get
// it after what senders sent it directly in the meantime.
//
// So a newer connection, before it activates, waits for the connection it
// displaced on this node to hand back. That is quick when the displaced
// connection's writer is free: the writer takes the close request and
// hands back at once (closeWith). A writer blocked on a client that does
// not read would hold the newer connection for up to write_timeout, so
// after handoverGrace the displaced connection is dropped, which makes its
// write fail and its mail go back (writeBatch, end).
//
// The wait comes after the 101 (the upgrade is answered at once), but
// while it lasts the newer connection neither reads its client nor writes
// to it. So it is bounded as a whole by handoverLimit, well under the 5 s
// a KVS C SDK client gives its connect (spec section 9 item 29). Once the
// displaced connection is dropped, only a slow hand-back can outlast that:
// the bus call that takes the mail back (a bus across the network; the
// call itself may take up to handBackTimeout), or a displaced connection
// that was itself still waiting for its own predecessor. The newer
// connection then activates without it. What the displaced connection
// hands back later still reaches the newer one exactly once, through the
// bus (Requeue gives it to the active holder), but behind what senders
// sent the newer connection directly meanwhile: in that case alone a
// sender's messages can arrive out of order.

// handoverGrace bounds how long a newer connection waits for the one it
// displaced before dropping it.
const handoverGrace = 250 * time.Millisecond

// handoverLimit bounds how long a newer connection waits in all for the
// one it displaced to hand back, dropping included.
const handoverLimit = time.Second

// handover is the pending hand-back of a displaced connection.
type handover struct {
	from *conn
	done chan struct{} // closed once from has handed back its mail
}

// handovers indexes the pending hand-backs by the displaced connection
// (for it to report) and by address (for the newer holder to wait on).
type handovers struct {
	byConn sync.Map // *conn → *handover
	byAddr sync.Map // bus.Address → *handover, the latest displaced holder
}

// displaced records that c lost its address and will hand back its mail.
func (hs *handovers) displaced(c *conn) {
	ho := &handover{from: c, done: make(chan struct{})}
	if _, loaded := hs.byConn.LoadOrStore(c, ho); loaded {
		return // displaced before: the first record stands
	}
	hs.byAddr.Store(c.addr, ho)
}

// handedBack reports that c has handed back all the mail it will.
func (hs *handovers) handedBack(c *conn) {
	v, ok := hs.byConn.LoadAndDelete(c)
	if !ok {
		return
	}
	ho := v.(*handover) //nolint:forcetypeassert // the map holds *handover
	close(ho.done)
	hs.byAddr.CompareAndDelete(c.addr, ho)
}

// awaitPredecessor holds c, not yet active, until the connection it
// displaced on this node has handed back its mail, for handoverLimit at
// most: see the top of this file.
func (c *conn) awaitPredecessor(ctx context.Context) {
	v, ok := c.hub.handovers.byAddr.Load(c.addr)
	if !ok {
		return
	}
	ho := v.(*handover) //nolint:forcetypeassert // the map holds *handover
	if ho.from == c {
		return
	}
	if c.waitHandover(ctx, ho, handoverGrace) {
		return
	}
	ho.from.dropIfServing() // its writer is stuck: make the write fail
	if c.waitHandover(ctx, ho, handoverLimit-handoverGrace) {
		return
	}
	c.hub.log.Warn("signaling takeover went ahead before the displaced connection handed back its mail; "+
		"what it hands back later follows what was sent to the newer connection meanwhile",
		"conn", c.id, "displaced", ho.from.id, "waited", handoverLimit)
}

// dropIfServing aborts c if it serves: a connection still in its
// handshake has no writer to be stuck, and no network connection to close
// yet (it hands back, or is abandoned, when its handshake ends).
func (c *conn) dropIfServing() {
	c.mu.Lock()
	serving := c.started && !c.finished
	c.mu.Unlock()
	if serving {
		c.abort()
	}
}

// waitHandover waits up to d for ho, and reports whether it completed.
// The hub's shutdown or the request's end stops the wait.
func (c *conn) waitHandover(ctx context.Context, ho *handover, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ho.done:
		return true
	case <-t.C:
		return false
	case <-c.hub.stopping:
	case <-ctx.Done():
	}
	return true // nothing more to wait for
}
