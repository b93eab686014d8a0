package signaling

import (
	"runtime"
	"sync"
	"time"

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
// network write, then releases the payloads. It returns false when the
// connection failed; the writer then stays marked as running, so that no
// other starts, and the reader sees the connection end.
func (c *conn) writeBatch(buf *[]byte, batch []outbound, goAway bool) bool {
	if len(batch) == 0 && !goAway {
		return true
	}
	out := getWriteBuffer()
	defer putWriteBuffer(out)
	if goAway {
		*out = wsserver.AppendText(*out, goAwayFrame)
	}
	var err error
	for i := range batch {
		if err == nil {
			*out = c.appendFrame(*out, buf, batch[i])
			if len(*out) >= writeChunk {
				err = c.writeFrames(*out)
				*out = (*out)[:0]
			}
		}
		batch[i] = outbound{} // release the payload
	}
	if err == nil && len(*out) > 0 {
		err = c.writeFrames(*out)
	}
	if err != nil {
		c.hub.log.Debug("signaling write failed", "conn", c.id, "error", err)
		c.abort()
		return false
	}
	if cap(*buf) > 4*c.hub.cfg.MaxEventBytes {
		*buf = nil // do not keep a rare large frame's buffer
	}
	return true
}

// appendFrame appends the frame for o to dst; scratch holds the encoded
// event on its way into its frame.
func (c *conn) appendFrame(dst []byte, scratch *[]byte, o outbound) []byte {
	switch {
	case o.control != nil:
		return append(dst, o.control...)
	case o.raw != nil:
		return wsserver.AppendText(dst, o.raw)
	}
	*scratch = appendEvent((*scratch)[:0], c.addr.Role == bus.RoleMaster, o.env)
	return wsserver.AppendText(dst, *scratch)
}

// writeFrames writes whole frames to the network within the write
// timeout. Frames written in one call share TLS records and system calls.
func (c *conn) writeFrames(frames []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.netConn.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteTimeout.Std())); err != nil {
		return err
	}
	_, err := c.netConn.Write(frames)
	return err
}

// writeFinal writes the last frame the reader has to say (a close echo or
// a protocol error's close) before the connection ends. A failure does
// not matter: the connection is ending either way.
func (c *conn) writeFinal(frame []byte) {
	if err := c.writeFrames(frame); err != nil {
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
	c.mu.Lock()
	sent := c.closeSent
	c.closeSent = true
	c.mu.Unlock()
	if sent {
		return // the client closed first and the reader answered
	}
	if err := c.writeFrames(wsserver.AppendClose(nil, cause.code, cause.reason)); err != nil {
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
