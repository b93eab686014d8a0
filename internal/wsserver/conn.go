package wsserver

import (
	"errors"
	"io"
	"math"
	"net"
	"os"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// defaultReadLimit is the largest data message accepted when
// UpgradeOptions.ReadLimit is not set.
const defaultReadLimit = 32 << 10

// maxStalls is how many reads in a row may return neither a byte nor an
// error before Next gives up with io.ErrNoProgress.
const maxStalls = 100

// EventKind says what an Event carries.
type EventKind uint8

// The kinds of Event. The zero EventKind is none of them.
const (
	Text EventKind = iota + 1
	Binary
	Ping
	Pong
	Close
)

// String names the kind, for logs and test failures.
func (k EventKind) String() string {
	switch k {
	case Text:
		return "text"
	case Binary:
		return "binary"
	case Ping:
		return "ping"
	case Pong:
		return "pong"
	case Close:
		return "close"
	}
	return "unknown"
}

// Event is one complete message or control frame from the client.
type Event struct {
	Kind EventKind
	// Payload is the message, the ping or pong payload, or for Close the
	// reason. It is valid until the next call to Next.
	Payload []byte
	// Code is the close code, for Close only: ws.StatusNoStatusRcvd (1005)
	// when the close frame had no body.
	Code ws.StatusCode
}

// Conn is an accepted WebSocket connection, read with Next.
type Conn struct {
	nc          net.Conn
	subprotocol string
	wouldBlock  error // the caller's sentinel; nil when only deadlines count

	// pending holds bytes received but not decoded yet, from a frame
	// boundary on: the part of a frame a would-block interrupted, or bytes
	// the HTTP server read ahead of the upgrade. nil on an idle connection.
	// While a buffer is lent (see lent) it is the rest of that buffer.
	pending []byte
	// lent is the pool buffer of the last call to Next, which returned an
	// event whose payload may lie in it, and lentHeap says that pending
	// lies in memory of its own instead (a large frame's). The next call
	// goes on with them. An idle connection has nothing lent: a call that
	// returns no event gives the buffer back.
	lent *[]byte
	// msg is the payload so far of a fragmented message in flight, and
	// msgOp its opcode (OpText or OpBinary); msgOp is 0 when none is.
	msg []byte

	// The small fields share one word, so that a Conn fits the 128-byte
	// size class.
	readLimit int32 // at most 2 GiB, more than any signaling message needs
	msgOp     ws.OpCode
	lentHeap  bool
	// err is the first protocol or final read error, returned by every
	// later call.
	err error
}

func newConn(nc net.Conn, readAhead []byte, subprotocol string, opts UpgradeOptions) *Conn {
	limit := opts.ReadLimit
	if limit <= 0 {
		limit = defaultReadLimit
	}
	// A frame's size, header included, stays representable as an int
	// (also on 32-bit platforms).
	limit = min(limit, math.MaxInt32-ws.MaxHeaderSize)
	return &Conn{
		nc:          nc,
		subprotocol: subprotocol,
		wouldBlock:  opts.WouldBlock,
		readLimit:   int32(limit),
		pending:     readAhead,
	}
}

// NetConn returns the hijacked connection (a *tls.Conn over TLS).
func (c *Conn) NetConn() net.Conn { return c.nc }

// Subprotocol returns the subprotocol chosen by Upgrade, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// Next returns the next complete event from the client: a whole (reassembled)
// data message or a control frame, which may arrive in the middle of a
// fragmented message. It returns a would-block error as it came (see the
// package comment) and keeps its state for the next call; a *CloseError for a
// protocol violation; io.EOF when the connection ended at a frame boundary
// (io.ErrUnexpectedEOF inside a frame or message); or another read error.
// Next does not answer pings or closes: the caller writes the reply.
func (c *Conn) Next() (Event, error) {
	if c.err != nil {
		return Event{}, c.err
	}
	s := c.resume()
	for {
		h, hl, err := c.readFrame(&s)
		if err != nil {
			err = c.fail(err, len(s.buf) > 0)
			c.park(&s)
			return Event{}, err
		}
		payload := s.take(hl + int(h.Length))[hl:]
		ws.Cipher(payload, h.Mask, 0)
		ev, ok, err := c.handle(h, payload)
		if err != nil {
			err = c.fail(err, false)
			c.park(&s)
			return Event{}, err
		}
		if ok {
			// The payload may lie in s: lend it to the caller until the
			// next call rather than copy it.
			c.lend(s)
			return ev, nil
		}
	}
}

// readFrame reads until s.buf starts with a whole frame whose header checks
// out, and returns the header and its size.
func (c *Conn) readFrame(s *scratch) (ws.Header, int, error) {
	stalls := 0
	for {
		h, hl, want, err := c.scan(s.buf)
		if err != nil || (hl > 0 && len(s.buf) >= want) {
			return h, hl, err
		}
		n, err := c.readMore(s, want)
		if err != nil {
			return h, 0, err
		}
		if n > 0 {
			stalls = 0
		} else if stalls++; stalls == maxStalls {
			return h, 0, io.ErrNoProgress
		}
	}
}

// scan looks at the frame at the start of b. It returns the header and its
// size once the header is whole (hl is 0 before), and want, the length b
// must reach for the next step: the header's size, then the frame's.
func (c *Conn) scan(b []byte) (h ws.Header, hl, want int, err error) {
	if len(b) < ws.MinHeaderSize {
		return h, 0, ws.MinHeaderSize, nil
	}
	n := headerLen(b[1])
	if len(b) < n {
		return h, 0, n, nil
	}
	h, err = decodeHeader(b[:n])
	if err == nil {
		err = c.check(h)
	}
	if err != nil {
		return h, 0, 0, err
	}
	return h, n, n + int(h.Length), nil
}

// readMore makes one Read towards len(s.buf) == want, never past it.
func (c *Conn) readMore(s *scratch, want int) (int, error) {
	s.reserve(want)
	n, err := c.nc.Read(s.buf[len(s.buf):min(cap(s.buf), want)])
	s.buf = s.buf[:len(s.buf)+n]
	if err != nil && len(s.buf) >= want {
		// Like io.ReadAtLeast: the bytes asked for are here, and a reader
		// returns its error again on the next call.
		err = nil
	}
	return n, err
}

// handle acts on a whole, unmasked frame. It reports whether the frame
// completed an event. The event's payload may be payload itself, which
// stays valid until the next call to Next.
func (c *Conn) handle(h ws.Header, payload []byte) (Event, bool, error) {
	switch h.OpCode {
	case ws.OpPing, ws.OpPong:
		kind := Ping
		if h.OpCode == ws.OpPong {
			kind = Pong
		}
		return Event{Kind: kind, Payload: payload}, true, nil
	case ws.OpClose:
		ev, err := closeEvent(payload)
		return ev, err == nil, err
	case ws.OpText, ws.OpBinary:
		if !h.Fin {
			c.msgOp, c.msg = h.OpCode, append([]byte(nil), payload...)
			return Event{}, false, nil
		}
		ev, err := message(h.OpCode, payload)
		return ev, err == nil, err
	default: // continuation; check let no other opcode through
		c.msg = append(c.msg, payload...)
		if !h.Fin {
			return Event{}, false, nil
		}
		op, msg := c.msgOp, c.msg
		c.msgOp, c.msg = 0, nil
		ev, err := message(op, msg)
		return ev, err == nil, err
	}
}

// message makes the event of a whole data message.
func message(op ws.OpCode, p []byte) (Event, error) {
	if op == ws.OpBinary {
		return Event{Kind: Binary, Payload: p}, nil
	}
	if !utf8.Valid(p) {
		return Event{}, &CloseError{Code: ws.StatusInvalidFramePayloadData, Reason: "text message is not valid UTF-8"}
	}
	return Event{Kind: Text, Payload: p}, nil
}

// fail records a final error. partial says that the bytes of an unfinished
// frame were received.
func (c *Conn) fail(err error, partial bool) error {
	if c.isWouldBlock(err) {
		return err
	}
	if err == io.EOF && (partial || c.msgOp != 0) {
		err = io.ErrUnexpectedEOF
	}
	c.err = err
	c.msg, c.msgOp = nil, 0
	return err
}

// isWouldBlock reports whether a read error only means "no data yet".
// errors.Is rather than errors.As(net.Error) so that the hot path of a
// parked connection does not allocate.
func (c *Conn) isWouldBlock(err error) bool {
	return (c.wouldBlock != nil && errors.Is(err, c.wouldBlock)) ||
		errors.Is(err, os.ErrDeadlineExceeded)
}
