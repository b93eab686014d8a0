package wsserver

import "sync"

// readBufSize is the size of the buffers Next borrows. A frame up to this
// size (header included) is read into the borrowed buffer; a larger one
// moves to a buffer of its own that grows as its bytes arrive.
const readBufSize = 16 << 10

// readPool holds *[]byte of readBufSize bytes: pointers, so that Put does
// not allocate.
var readPool = sync.Pool{New: func() any {
	b := make([]byte, readBufSize)
	return &b
}}

// scratch is the read buffer of one call to Next.
type scratch struct {
	// buf holds the received bytes not decoded yet, from a frame boundary.
	buf []byte
	// pooled is the borrowed buffer, which buf uses unless heap is set.
	pooled *[]byte
	// heap says that buf lives in memory of its own, not in *pooled.
	heap bool
}

// resume returns the read buffer for a call to Next: the one the last
// call lent, or a new one from the pool.
func (c *Conn) resume() scratch {
	if c.lent == nil {
		return c.borrow()
	}
	s := scratch{buf: c.pending, pooled: c.lent, heap: c.lentHeap}
	c.pending, c.lent, c.lentHeap = nil, nil, false
	return s
}

// lend ends a call to Next that returns an event: the event's payload may
// lie in s, which the Conn keeps as it is until the next call.
func (c *Conn) lend(s scratch) {
	c.pending, c.lent, c.lentHeap = s.buf, s.pooled, s.heap
}

// Release gives back the read buffer that the last event's payload lies
// in, which must not be used after. Next does it itself when it returns no
// event; a caller about to wait for something other than the client, with
// the payload consumed, calls it first, so that the connection holds no
// read buffer while it waits. Release is for the goroutine that calls
// Next.
func (c *Conn) Release() {
	if c.lent != nil {
		s := c.resume()
		c.park(&s)
	}
}

// borrow takes a pool buffer and the pending bytes for one call to Next.
func (c *Conn) borrow() scratch {
	s := scratch{pooled: readPool.Get().(*[]byte)}
	if len(c.pending) < readBufSize {
		s.buf = append((*s.pooled)[:0], c.pending...)
	} else {
		// A large frame in progress: go on with the buffer it grew.
		s.buf, s.heap = c.pending, true
	}
	c.pending = nil
	return s
}

// park ends a call to Next that returns no event: it keeps the bytes not
// decoded yet and gives the pool buffer back.
func (c *Conn) park(s *scratch) {
	switch {
	case c.err != nil || len(s.buf) == 0:
		c.pending = nil
	case s.heap && len(s.buf) >= readBufSize:
		// Keep the grown buffer (at most about twice its contents) rather
		// than a copy, so that a large frame trickling in is not copied
		// whole at every resume.
		c.pending = s.buf
	default:
		c.pending = make([]byte, len(s.buf))
		copy(c.pending, s.buf)
	}
	s.buf = nil
	readPool.Put(s.pooled)
}

// reserve makes room in s.buf for at least one more byte towards want,
// and for all of them if want fits the pool buffer.
func (s *scratch) reserve(want int) {
	free := cap(s.buf) - len(s.buf)
	if free >= want-len(s.buf) || (free > 0 && want > readBufSize) {
		return
	}
	if want <= readBufSize {
		// Move the bytes to the front of the pool buffer (they may be
		// further in it, after frames decoded in this call).
		s.buf, s.heap = append((*s.pooled)[:0], s.buf...), false
		return
	}
	// Grow by doubling, and by no more than the frame needs, so that memory
	// follows the bytes that actually arrived, not the declared length.
	grown := make([]byte, len(s.buf), min(want, len(s.buf)+max(len(s.buf), readBufSize)))
	copy(grown, s.buf)
	s.buf, s.heap = grown, true
}

// take removes the first n bytes of s.buf and returns them, capped so that
// appending to them cannot write over the bytes after.
func (s *scratch) take(n int) []byte {
	b := s.buf[:n:n]
	s.buf = s.buf[n:]
	return b
}
