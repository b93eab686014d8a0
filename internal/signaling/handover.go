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

// handoverGrace bounds how long a newer connection waits for the one it
// displaced before dropping it.
const handoverGrace = 250 * time.Millisecond

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
// displaced on this node has handed back its mail: see the top of this
// file.
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
	c.waitHandover(ctx, ho, handBackTimeout)
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
