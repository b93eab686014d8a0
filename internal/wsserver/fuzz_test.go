package wsserver

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gobwas/ws"
)

// fuzzLimit is small enough for the fuzzer to reach 1009 and large enough
// for messages bigger than one short frame.
const fuzzLimit = 300

// FuzzNext feeds arbitrary bytes to Next at once and in chunks cut where
// cuts says, with a would-block between chunks. Neither may panic, both
// must give the same events and the same final error, and no call may end
// holding bytes past a whole frame.
func FuzzNext(f *testing.F) {
	for _, tc := range validCases() {
		if len(tc.stream) < 4096 {
			f.Add(tc.stream, []byte{1, 2, 3})
		}
	}
	f.Add(concat(
		clientFrame(ws.OpText, false, []byte("fr")),
		clientFrame(ws.OpPing, true, []byte("x")),
		clientFrame(ws.OpContinuation, true, []byte("ag")),
		clientFrame(ws.OpClose, true, closeBody(1000, "done")),
	), []byte{0, 5, 200})
	f.Add(rawFrame(ws.Header{Fin: true, OpCode: ws.OpText}, []byte("unmasked")), []byte{1})
	f.Add(clientFrame(ws.OpBinary, true, pattern(fuzzLimit+1)), []byte{7, 1})
	f.Add([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, []byte{})

	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		whole := run(t, &scriptConn{data: bytes.Clone(stream)})
		i := 0
		chunked := run(t, &scriptConn{data: bytes.Clone(stream), block: true, next: func() int {
			if len(cuts) == 0 {
				return 1
			}
			i++
			return int(cuts[i%len(cuts)]) + 1
		}})
		if !equalStrings(whole.events, chunked.events) || whole.end != chunked.end {
			t.Fatalf("at once: %q, %s\nchunked: %q, %s", whole.events, whole.end, chunked.events, chunked.end)
		}
	})
}

// run is drain with checks of the Conn's state after every call.
func run(t *testing.T, nc *scriptConn) outcome {
	c := testConn(nc, fuzzLimit)
	var out outcome
	maxCalls := 3*len(nc.data) + 10
	for calls := 0; ; calls++ {
		if calls > maxCalls {
			t.Fatalf("no end after %d calls", calls)
		}
		ev, err := c.Next()
		switch {
		case err == nil:
			if len(c.pending) != 0 {
				t.Fatalf("%d bytes kept after an event: read past a frame", len(c.pending))
			}
			if ev.Kind == Close && len(ev.Payload) > ws.MaxControlFramePayloadSize-2 {
				t.Fatalf("close reason of %d bytes", len(ev.Payload))
			}
			out.events = append(out.events, describe(ev))
		case errors.Is(err, errWouldBlock):
			if len(c.pending) != cap(c.pending) {
				t.Fatalf("partial frame of %d bytes kept in %d", len(c.pending), cap(c.pending))
			}
		default:
			out.end = describeErr(err)
			return out
		}
	}
}
