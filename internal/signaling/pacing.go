package signaling

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/bus"
)

// Pacing: a sender faster than its recipient.
//
// Every connection's send queue is bounded (send_queue_length), and a
// connection whose queue overflows is dropped as a slow reader. A
// recipient that falls behind only for a moment (a burst of candidates
// from many viewers, a busy machine) should not lose its connection for
// it when its senders can wait instead. So while a master's queue is at
// least half full, a viewer's reader that has just delivered a message to
// it waits for the master's writer to take the queue before it reads its
// own client's next frame: the viewer's TCP window closes and the network
// slows the viewer down, as it would through a plain forwarder. Only
// viewers wait: everything a viewer sends goes to its master, so waiting
// costs it nothing the master could have taken sooner, whereas a master
// waiting for one slow viewer would hold up its messages to all the
// others (a slow viewer is dropped when its queue overflows, as before).
// A client of either role also waits for its own writer when the
// STATUS_RESPONSEs it asked for fill its queue.
//
// The wait is bounded by Hub.paceLimit (defaultPaceLimit). A recipient
// whose writer has not taken its queue by then is not waited for again
// until it does; its queue then fills and it is dropped as before. A
// stuck recipient therefore costs each of its senders one such wait.
// Pacing covers recipients on this node: the index below holds this hub's
// connections only.

// defaultPaceLimit bounds how long a sender waits for one recipient to
// drain: long enough to ride out a stall of the recipient's network or of
// the machine, short enough that a stuck recipient delays its senders
// little.
const defaultPaceLimit = 250 * time.Millisecond

// pacer indexes the connections whose send queue is over the high-water
// mark by address, so that a reader finds the recipient it must wait for.
// The count keeps the lookup to one atomic load while nobody is behind.
type pacer struct {
	count  atomic.Int64
	byAddr sync.Map // bus.Address → *conn
}

// add registers c as congested; false when another connection of the same
// address already is (during a takeover), which then stands for both.
func (p *pacer) add(c *conn) bool {
	if _, loaded := p.byAddr.LoadOrStore(c.addr, c); loaded {
		return false
	}
	p.count.Add(1)
	return true
}

func (p *pacer) remove(c *conn) {
	if p.byAddr.CompareAndDelete(c.addr, c) {
		p.count.Add(-1)
	}
}

// lookup returns the congested connection holding addr, or nil.
func (p *pacer) lookup(addr bus.Address) *conn {
	if p.count.Load() == 0 {
		return nil
	}
	v, ok := p.byAddr.Load(addr)
	if !ok {
		return nil
	}
	return v.(*conn) //nolint:forcetypeassert // the map holds *conn
}

// noteQueuedLocked marks c congested when its queue reached the
// high-water mark. c.mu is held.
func (c *conn) noteQueuedLocked() {
	if c.drained != nil || c.paceGivenUp || len(c.queue) < c.hub.paceMark {
		return
	}
	if c.hub.pacer.add(c) {
		c.drained = make(chan struct{})
	}
}

// releaseSendersLocked wakes the senders waiting for c and takes it out
// of the index. The writer calls it when it takes the queue; the
// connection's end and its slow-reader verdict call it too, since Deliver
// refuses from then on and nothing is left to wait for. c.mu is held.
func (c *conn) releaseSendersLocked() {
	if c.drained == nil {
		return
	}
	close(c.drained)
	c.drained = nil
	c.hub.pacer.remove(c)
}

// waitChannel returns what a sender waits on for c, or nil when c is not
// congested (any more).
func (c *conn) waitChannel() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.drained
}

// giveUpPacing is called by a sender that waited Hub.paceLimit on drained
// in vain: nobody waits for c again until its writer takes the queue.
func (c *conn) giveUpPacing(drained <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.drained != nil && (<-chan struct{})(c.drained) == drained {
		c.paceGivenUp = true
		c.releaseSendersLocked()
	}
}

// paceBehind holds this connection's reader while the recipient at to is
// congested (see the top of this file).
func (c *conn) paceBehind(to bus.Address) {
	if rc := c.hub.pacer.lookup(to); rc != nil {
		c.waitForDrain(rc)
	}
}

// waitForDrain holds this connection's reader until rc's writer takes its
// queue, for at most Hub.paceLimit, when rc is congested. rc may be c
// itself: a client that sends faster than it reads the answers it asks
// for (STATUS_RESPONSE) is paced the same way.
func (c *conn) waitForDrain(rc *conn) {
	drained := rc.waitChannel()
	if drained == nil {
		return
	}
	c.ws.Release() // the message is relayed: hold no read buffer while waiting
	t := time.NewTimer(c.hub.paceLimit)
	defer t.Stop()
	select {
	case <-drained:
		c.hub.metrics.pacedDrained.Inc()
	case <-t.C:
		rc.giveUpPacing(drained)
		c.hub.metrics.pacedGaveUp.Inc()
	case <-c.hub.stopping:
	}
}
