package signaling

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
	"time"
)

// connBufferSize is the size of the read and write buffers the WebSocket
// library gets for each connection. The library insists on bufio buffers,
// and net/http would hand it 4 KiB of each: 8 KiB per idle connection,
// half of what a whole idle connection may cost. Neither is needed: TLS
// already buffers a whole decrypted record for reading, and writes are
// gathered by the coalescer while the writer runs. The size still holds a
// frame header with a control frame's payload.
const connBufferSize = 256

// coalesceLimit is how many bytes a writer gathers before it writes them
// out; it matches the largest TLS record.
const coalesceLimit = 16 << 10

// coalescePool lends gathering buffers to the writers that are running,
// so that idle connections hold none.
var coalescePool = sync.Pool{New: func() any {
	b := make([]byte, 0, coalesceLimit)
	return &b
}}

// coalescer sits between the library's small write buffer and the
// network connection, and makes the writer goroutine the only one that
// writes to the network. Frames written by other goroutines (the pong the
// reader answers a ping with, the echo of a client's close, a server ping)
// are gathered and the writer is started to send them. While the writer
// holds it, its own frames are gathered too, and release sends them all in
// one write: one TLS record and one system call for a whole batch of
// messages. During a close handshake, and once the reader has ended, it
// writes through.
type coalescer struct {
	mu      sync.Mutex
	conn    net.Conn
	kick    func() // starts the writer
	buf     *[]byte
	held    bool
	through bool
}

// Write implements io.Writer for the library's bufio.Writer.
func (w *coalescer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.through {
		defer w.mu.Unlock()
		return w.conn.Write(p)
	}
	if w.buf == nil {
		w.buf = coalescePool.Get().(*[]byte) //nolint:forcetypeassert // the pool holds *[]byte
	}
	*w.buf = append(*w.buf, p...)
	if w.held {
		defer w.mu.Unlock()
		if len(*w.buf) >= coalesceLimit {
			if err := w.flushLocked(); err != nil {
				return 0, err
			}
		}
		return len(p), nil
	}
	w.mu.Unlock()
	w.kick()
	return len(p), nil
}

// pending reports whether bytes wait for the writer.
func (w *coalescer) pending() bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf != nil && len(*w.buf) > 0
}

// hold starts a writer's pass; every network write until release must
// finish by deadline.
func (w *coalescer) hold(deadline time.Time) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.held = true
	_ = w.conn.SetWriteDeadline(deadline)
}

// release writes what was gathered and ends the pass.
func (w *coalescer) release() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.held = false
	err := w.flushLocked()
	w.putBuffer()
	if err == nil {
		err = w.conn.SetWriteDeadline(time.Time{})
	}
	return err
}

// writeThrough sends what is gathered, within deadline, and makes every
// later write go straight to the network.
func (w *coalescer) writeThrough(deadline time.Time) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.through = true
	_ = w.conn.SetWriteDeadline(deadline)
	_ = w.flushLocked()
	w.putBuffer()
}

func (w *coalescer) flushLocked() error {
	if w.buf == nil || len(*w.buf) == 0 {
		return nil
	}
	_, err := w.conn.Write(*w.buf)
	*w.buf = (*w.buf)[:0]
	return err
}

// putBuffer gives the gathering buffer back to the pool (an idle
// connection holds none).
func (w *coalescer) putBuffer() {
	if w.buf == nil {
		return
	}
	if cap(*w.buf) <= 4*coalesceLimit {
		*w.buf = (*w.buf)[:0]
		coalescePool.Put(w.buf)
	}
	w.buf = nil
}

// smallBuffers replaces the buffers of a hijacked connection with
// connBufferSize ones, keeping the bytes the HTTP server had already read
// past the upgrade request (a client may send its first frame at once).
// The write buffer writes into out.
func smallBuffers(rw *bufio.ReadWriter, conn net.Conn, out io.Writer) *bufio.ReadWriter {
	r := bufio.NewReaderSize(conn, connBufferSize)
	if n := rw.Reader.Buffered(); n > 0 {
		pending, _ := rw.Reader.Peek(n)
		r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(pending)), conn), max(connBufferSize, n))
		_, _ = r.Peek(n) // moves exactly the pending bytes into the new buffer
	}
	return bufio.NewReadWriter(r, bufio.NewWriterSize(out, connBufferSize))
}
