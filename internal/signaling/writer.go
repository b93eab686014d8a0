package signaling

import (
	"errors"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboard-rtc/switchboard/internal/bus"
	"github.com/switchboard-rtc/switchboard/internal/wsserver"
)

// writeLoop is the only goroutine that writes data frames to the
// connection, and it runs only while there is something to write: it
// writes the mailbox backlog first (on its first run), then whatever is
// queued, carries out GO_AWAY and close requests, and ends when the queue
// is empty. Frames written in one pass go out in one network write: they
// share TLS records and system calls.
func (c *conn) writeLoop() {
	defer c.wg.Done()
	c.mu.Lock()
	backlog := c.backlog
	if c.closing != nil && !c.closing.flush {
		// Displaced (or dropped) before its first write: the backlog
		// stays for handBack (closeWith), which gives it to the address's
		// next holder ahead of the queue, as it does with the queue.
		backlog = nil
	} else {
		c.backlog = nil
	}
	c.mu.Unlock()
	var batch []outbound
	for i, env := range backlog {
		batch = append(batch, outbound{env: env})
		backlog[i] = bus.Envelope{}
	}
	if !c.writeBatch(batch, false) {
		return
	}
	// Let the goroutines that are ready to run go first: the readers of
	// other connections woken with this one often have messages for this
	// connection too, and what they queue meanwhile goes out in the same
	// write. Without this yield a busy master's writer wrote about one
	// message per system call; with it, the relay's median latency at
	// 50,000 messages/s halved and its CPU per message fell
	// (docs/benchmarks.md, session 7). When nothing else is ready to run,
	// the yield returns at once.
	runtime.Gosched()
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
			c.closeWith(batch, sendGoAway, *cause)
			return
		}
		if !c.writeBatch(batch, sendGoAway) {
			return
		}
	}
}

// closeWith carries out a close request. A close that leaves the client
// the rightful recipient (cause.flush) writes what is queued before the
// close frame; any other hands it back to the bus at once, so that the
// address's next holder gets it, in order (handover.go), rather than a
// client that was replaced, is not reading or is being dropped.
func (c *conn) closeWith(batch []outbound, goAway bool, cause closeCause) {
	if !cause.flush {
		c.giveBack(batch)
		batch = nil
		c.handBack()
	}
	if c.writeBatch(batch, goAway) {
		c.close(cause)
	}
}

// writeBatch writes GO_AWAY (when asked) and the frames of batch in one
// network write, then releases the payloads. It returns false when the
// connection failed; the writer then stays marked as running, so that no
// other starts, and the reader sees the connection end. The envelopes not
// known to be written then go back to the queue for handBack: those of
// the write that failed too, since part of it may have gone out and none
// may be lost (so a client may see one twice, after a reconnect).
func (c *conn) writeBatch(batch []outbound, goAway bool) bool {
	if len(batch) == 0 && !goAway {
		return true
	}
	out := getWriteBuffer()
	defer putWriteBuffer(out)
	if goAway {
		*out = wsserver.AppendText(*out, goAwayFrame)
	}
	written := 0 // batch[:written] went out
	var err error
	for i := range batch {
		*out = c.appendFrame(*out, batch[i])
		if len(*out) < writeChunk {
			continue
		}
		if err = c.writeFrames(*out); err != nil {
			break
		}
		*out = (*out)[:0]
		clear(batch[written : i+1]) // release the payloads
		written = i + 1
	}
	if err == nil && len(*out) > 0 {
		err = c.writeFrames(*out)
	}
	if err != nil {
		c.giveBack(batch[written:])
		c.writeFailed(err)
		return false
	}
	clear(batch[written:])
	return true
}

// giveBack puts the envelopes of batch, which were not written, back in
// front of the queue, where handBack finds them when the connection ends
// (no writer takes the queue again: the one that gives back is ending and
// stays marked as running). The frames the server made are dropped.
func (c *conn) giveBack(batch []outbound) {
	envs := make([]outbound, 0, len(batch))
	for i := range batch {
		if batch[i].delivery() {
			envs = append(envs, batch[i])
		}
		batch[i] = outbound{}
	}
	if len(envs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = slices.Concat(envs, c.queue)
}

// writeFailed drops a connection whose write failed. A write refused
// because a close frame went out needs nothing: the reader sent that
// frame and is ending the connection.
func (c *conn) writeFailed(err error) {
	if errors.Is(err, errCloseSent) {
		return
	}
	c.hub.log.Debug("signaling write failed", "conn", c.id, "error", err)
	c.abort()
}

// appendFrame appends the frame for o to dst. A delivery event is encoded
// in place, after a header for the length eventSize predicts.
func (c *conn) appendFrame(dst []byte, o outbound) []byte {
	switch {
	case o.control != nil:
		return append(dst, o.control...)
	case o.raw != nil:
		return wsserver.AppendText(dst, o.raw)
	}
	withSender := c.addr.Role == bus.RoleMaster
	size := eventSize(withSender, o.env)
	start := len(dst)
	dst = wsserver.AppendTextHeader(slices.Grow(dst, ws.MaxHeaderSize+size), size)
	body := len(dst)
	dst = appendEvent(dst, withSender, o.env)
	if len(dst)-body == size {
		return dst
	}
	// Something in the envelope needed escaping, which validation rules
	// out for messages from clients: frame the event again at its length.
	event := slices.Clone(dst[body:])
	return wsserver.AppendText(dst[:start], event)
}

// errCloseSent refuses a write after the connection's close frame.
var errCloseSent = errors.New("signaling: close frame already sent")

// writeFrames writes whole frames to the network within the write
// timeout, unless a close frame went out: RFC 6455 (5.5.1) allows no data
// after it. Frames written in one call share TLS records and system calls.
func (c *conn) writeFrames(frames []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	return c.writeLocked(frames)
}

// writeClose writes a close frame unless one went out already, and
// reports whether this call was the first. From then on writeFrames
// refuses, whether or not this write succeeded.
func (c *conn) writeClose(code ws.StatusCode, reason string) (first bool, err error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closeSent {
		return false, nil
	}
	c.closeSent = true
	return true, c.writeLocked(wsserver.AppendClose(nil, code, reason))
}

// writeLocked writes within the write timeout. c.writeMu is held.
func (c *conn) writeLocked(frames []byte) error {
	if err := c.netConn.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteTimeout.Std())); err != nil {
		return err
	}
	_, err := c.netConn.Write(frames)
	return err
}

// writeFinal writes the close frame the reader has to say (a close echo
// or a protocol error's close) before the connection ends, unless the
// server's own close frame went first. A failure does not matter: the
// connection is ending either way.
func (c *conn) writeFinal(code ws.StatusCode, reason string) {
	if _, err := c.writeClose(code, reason); err != nil {
		c.hub.log.Debug("signaling close frame not written", "conn", c.id, "error", err)
	}
}

// close ends the connection for cause. A graceful close sends the close
// frame and gives the client the write timeout to answer with its own,
// which the reader receives and which ends the connection; the closing
// clock drops the connection if no answer comes. An abrupt close drops it
// at once.
func (c *conn) close(cause closeCause) {
	c.hub.log.Debug("signaling connection closing", "conn", c.id, "reason", cause.metric)
	if cause.abrupt {
		c.abort()
		return
	}
	first, err := c.writeClose(cause.code, cause.reason)
	switch {
	case !first:
		return // the client closed first and the reader answered
	case err != nil:
		c.abort()
		return
	}
	c.armClosingClock(c.hub.cfg.WriteTimeout.Std())
}

// writeChunk is how many bytes a writer gathers before it writes them
// out: the payload of the largest TLS record.
const writeChunk = 16 << 10

// writeBuffers lends the writers their gathering buffers, so that idle
// connections hold none.
var writeBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, writeChunk+4096)
	return &b
}}

func getWriteBuffer() *[]byte {
	b := writeBuffers.Get().(*[]byte) //nolint:forcetypeassert // the pool holds *[]byte
	*b = (*b)[:0]
	return b
}

// putWriteBuffer keeps ordinary buffers for reuse; a rare huge one goes.
func putWriteBuffer(b *[]byte) {
	if cap(*b) <= 4*writeChunk {
		writeBuffers.Put(b)
	}
}

// pingFrame is the server's keepalive ping; clients answer with a pong
// carrying the same bytes.
var pingFrame = wsserver.AppendPing(nil, []byte("switchboard"))
