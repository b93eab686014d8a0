package wsserver

import (
	"bytes"
	"errors"
	"testing"
	"unsafe"

	"github.com/gobwas/ws"
)

// TestIdleHoldsNoBuffer is white-box: once Next would block the Conn holds
// no read buffer, and a partial frame is kept as a right-sized copy.
func TestIdleHoldsNoBuffer(t *testing.T) {
	frame := clientFrame(ws.OpText, true, pattern(1000))
	nc := &scriptConn{data: concat(frame, frame[:700]), block: true, next: func() int { return 600 }, end: errWouldBlock}
	c := testConn(nc, 0)

	for {
		ev, err := c.Next()
		if err == nil {
			if ev.Kind != Text || len(ev.Payload) != 1000 {
				t.Fatalf("got %v of %d bytes", ev.Kind, len(ev.Payload))
			}
			if c.msg != nil {
				t.Fatalf("after an event: msg %d", cap(c.msg))
			}
			continue
		}
		if !errors.Is(err, errWouldBlock) {
			t.Fatal(err)
		}
		if c.lent != nil {
			t.Fatal("a read buffer is still lent after would block")
		}
		if len(c.pending) != cap(c.pending) {
			t.Fatalf("partial frame kept in %d bytes for %d received", cap(c.pending), len(c.pending))
		}
		if nc.consumed == len(frame)+700 {
			break
		}
	}
	if len(c.pending) != 700 {
		t.Fatalf("pending %d bytes, want the 700 received", len(c.pending))
	}
}

// TestLargeFrameTrickle feeds a frame much larger than the pool buffer in
// small pieces: what the Conn keeps between calls stays within twice the
// bytes received, and the message arrives whole.
func TestLargeFrameTrickle(t *testing.T) {
	payload := pattern(200_000)
	nc := &scriptConn{data: clientFrame(ws.OpBinary, true, payload), block: true, next: func() int { return 997 }}
	c := testConn(nc, 1<<20)
	for {
		ev, err := c.Next()
		if errors.Is(err, errWouldBlock) {
			if len(c.pending) != nc.consumed {
				t.Fatalf("pending %d bytes, %d received", len(c.pending), nc.consumed)
			}
			if cap(c.pending) > 2*len(c.pending) {
				t.Fatalf("pending capacity %d for %d bytes", cap(c.pending), len(c.pending))
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ev.Payload, payload) {
			t.Fatalf("payload differs (%d bytes)", len(ev.Payload))
		}
		if len(c.pending) != 0 {
			t.Fatalf("pending %d bytes after the event", len(c.pending))
		}
		return
	}
}

// TestFragmentedMessageKeepsOnlyItsPayload: between the fragments of a
// message the Conn holds the payload so far and no read buffer.
func TestFragmentedMessageKeepsOnlyItsPayload(t *testing.T) {
	nc := &scriptConn{data: clientFrame(ws.OpText, false, []byte("abc")), end: errWouldBlock}
	c := testConn(nc, 0)
	if _, err := c.Next(); !errors.Is(err, errWouldBlock) {
		t.Fatalf("got %v, want would block", err)
	}
	if c.pending != nil || string(c.msg) != "abc" {
		t.Fatalf("pending %q, msg %q", c.pending, c.msg)
	}
	nc.data = clientFrame(ws.OpContinuation, true, []byte("def"))
	ev, err := c.Next()
	if err != nil || string(ev.Payload) != "abcdef" || c.msg != nil || len(c.pending) != 0 {
		t.Fatalf("got %v %q, err %v, msg %q, pending %q", ev.Kind, ev.Payload, err, c.msg, c.pending)
	}
}

// TestConnSize guards the per-connection footprint.
func TestConnSize(t *testing.T) {
	if size := unsafe.Sizeof(Conn{}); size > 128 {
		t.Fatalf("Conn is %d bytes, more than 128", size)
	}
}

// TestPayloadAppendSafe: appending to an event's payload must not write
// over bytes the Conn still holds.
func TestPayloadAppendSafe(t *testing.T) {
	big := pattern(40_000)
	stream := concat(clientFrame(ws.OpBinary, true, big), clientFrame(ws.OpText, true, []byte("after")))
	c := newConn(&scriptConn{}, stream, "", UpgradeOptions{ReadLimit: 1 << 20})
	ev, err := c.Next()
	if err != nil || len(ev.Payload) != len(big) {
		t.Fatalf("first: %v, %d bytes", err, len(ev.Payload))
	}
	_ = append(ev.Payload, "XXXXXXXXXXXXXXXX"...)
	ev, err = c.Next()
	if err != nil || describe(ev) != text("after") {
		t.Fatalf("second: %s, %v", describe(ev), err)
	}
}

// TestRelease: a caller that gives the read buffer back early keeps the
// bytes after the event (here a second frame read ahead), as a copy.
func TestRelease(t *testing.T) {
	ahead := concat(clientFrame(ws.OpText, true, []byte("one")), clientFrame(ws.OpText, true, []byte("two")))
	c := newConn(&scriptConn{end: errWouldBlock}, ahead, "", UpgradeOptions{WouldBlock: errWouldBlock})
	if ev, err := c.Next(); err != nil || describe(ev) != text("one") {
		t.Fatalf("first: %s, %v", describe(ev), err)
	}
	if c.lent == nil {
		t.Fatal("the event's buffer is not lent")
	}
	c.Release()
	if c.lent != nil || len(c.pending) != len(ahead)/2 || cap(c.pending) != len(c.pending) {
		t.Fatalf("after Release: lent %v, pending %d bytes (cap %d)", c.lent != nil, len(c.pending), cap(c.pending))
	}
	c.Release() // nothing lent: no effect
	if ev, err := c.Next(); err != nil || describe(ev) != text("two") {
		t.Fatalf("second: %s, %v", describe(ev), err)
	}
}
