package wsserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// feeds are the ways a recorded stream reaches Next: at once, one byte at a
// time with a would-block after each, and in random chunks (seeded) with a
// would-block after each.
var feeds = []struct {
	name string
	conn func(data []byte) *scriptConn
}{
	{"whole", func(data []byte) *scriptConn {
		return &scriptConn{data: data}
	}},
	{"bytewise", func(data []byte) *scriptConn {
		return &scriptConn{data: data, block: true, next: func() int { return 1 }}
	}},
	{"random", func(data []byte) *scriptConn {
		r := rand.New(rand.NewPCG(7, uint64(len(data))))
		return &scriptConn{data: data, block: true, next: func() int { return 1 + r.IntN(3000) }}
	}},
}

type streamCase struct {
	name   string
	stream []byte
	limit  int64    // ReadLimit; 0 for the default
	events []string // as describe writes them
	end    string   // prefix of the final error as describeErr writes it
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

func text(s string) string { return fmt.Sprintf("text %q", s) }

func validCases() []streamCase {
	big := pattern(100_000)
	return []streamCase{
		{
			name:   "text",
			stream: clientFrame(ws.OpText, true, []byte("hello")),
			events: []string{text("hello")},
			end:    "EOF",
		},
		{
			name:   "empty text and binary",
			stream: concat(clientFrame(ws.OpText, true, nil), clientFrame(ws.OpBinary, true, []byte{0xff, 0})),
			events: []string{text(""), `binary "\xff\x00"`},
			end:    "EOF",
		},
		{
			name: "control frames",
			stream: concat(
				clientFrame(ws.OpPing, true, []byte("p1")),
				clientFrame(ws.OpPong, true, nil),
				clientFrame(ws.OpClose, true, closeBody(4000, "bye")),
			),
			events: []string{`ping "p1"`, `pong ""`, `close 4000 "bye"`},
			end:    "EOF",
		},
		{
			name:   "close without body",
			stream: clientFrame(ws.OpClose, true, nil),
			events: []string{`close 1005 ""`},
			end:    "EOF",
		},
		{
			name: "fragmented text with ping and pong inside",
			stream: concat(
				clientFrame(ws.OpText, false, []byte("hel")),
				clientFrame(ws.OpPing, true, []byte("p")),
				clientFrame(ws.OpContinuation, false, []byte("lo ")),
				clientFrame(ws.OpPong, true, []byte("q")),
				clientFrame(ws.OpContinuation, true, []byte("world")),
				clientFrame(ws.OpText, true, []byte("next")),
			),
			events: []string{`ping "p"`, `pong "q"`, text("hello world"), text("next")},
			end:    "EOF",
		},
		{
			name: "fragmented binary with empty fragments",
			stream: concat(
				clientFrame(ws.OpBinary, false, nil),
				clientFrame(ws.OpContinuation, false, []byte{1}),
				clientFrame(ws.OpContinuation, true, nil),
			),
			events: []string{`binary "\x01"`},
			end:    "EOF",
		},
		{
			name: "rune split across fragments",
			stream: concat(
				clientFrame(ws.OpText, false, []byte("caf\xc3")),
				clientFrame(ws.OpContinuation, true, []byte("\xa9")),
			),
			events: []string{text("café")},
			end:    "EOF",
		},
		{
			name: "length encodings",
			stream: concat(
				clientFrame(ws.OpText, true, pattern(125)),
				clientFrame(ws.OpText, true, pattern(126)),
				clientFrame(ws.OpText, true, pattern(65535)),
				clientFrame(ws.OpText, true, pattern(65536)),
			),
			limit:  1 << 20,
			events: []string{text(string(pattern(125))), text(string(pattern(126))), text(string(pattern(65535))), text(string(pattern(65536)))},
			end:    "EOF",
		},
		{
			name: "frames larger than the pool buffer, one fragmented",
			stream: concat(
				clientFrame(ws.OpBinary, true, big),
				clientFrame(ws.OpText, false, big[:40_000]),
				clientFrame(ws.OpPing, true, []byte("mid")),
				clientFrame(ws.OpContinuation, true, big[40_000:]),
			),
			limit:  1 << 20,
			events: []string{fmt.Sprintf("binary %q", big), `ping "mid"`, text(string(big))},
			end:    "EOF",
		},
		{
			name:   "message exactly at the limit",
			stream: clientFrame(ws.OpText, true, pattern(10)),
			limit:  10,
			events: []string{text(string(pattern(10)))},
			end:    "EOF",
		},
		{
			name:   "binary need not be UTF-8",
			stream: clientFrame(ws.OpBinary, true, []byte{0xc3, 0x28}),
			events: []string{`binary "\xc3("`},
			end:    "EOF",
		},
	}
}

func TestNextValidStreams(t *testing.T) {
	runStreamCases(t, validCases())
}

// runStreamCases checks every case under every feed: the same events and
// the same end whichever way the bytes arrive.
func runStreamCases(t *testing.T, cases []streamCase) {
	for _, tc := range cases {
		for _, feed := range feeds {
			t.Run(tc.name+"/"+feed.name, func(t *testing.T) {
				got := drain(t, testConn(feed.conn(bytes.Clone(tc.stream)), tc.limit))
				if !equalStrings(got.events, tc.events) {
					t.Errorf("events:\n got %.200q\nwant %.200q", got.events, tc.events)
				}
				if !strings.HasPrefix(got.end, tc.end) {
					t.Errorf("end: got %q, want %q...", got.end, tc.end)
				}
			})
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func masked(h ws.Header) ws.Header {
	h.Masked, h.Mask = true, testMask
	return h
}

func TestNextProtocolErrors(t *testing.T) {
	hi := []byte("hi")
	cases := []streamCase{
		{name: "unmasked frame", stream: rawFrame(ws.Header{Fin: true, OpCode: ws.OpText}, hi), end: "close 1002"},
		{name: "rsv1", stream: rawFrame(masked(ws.Header{Fin: true, OpCode: ws.OpText, Rsv: ws.Rsv(true, false, false)}), hi), end: "close 1002"},
		{name: "rsv2", stream: rawFrame(masked(ws.Header{Fin: true, OpCode: ws.OpText, Rsv: ws.Rsv(false, true, false)}), hi), end: "close 1002"},
		{name: "rsv3", stream: rawFrame(masked(ws.Header{Fin: true, OpCode: ws.OpPing, Rsv: ws.Rsv(false, false, true)}), hi), end: "close 1002"},
		{name: "reserved data opcode", stream: rawFrame(masked(ws.Header{Fin: true, OpCode: 0x3}), hi), end: "close 1002"},
		{name: "reserved control opcode", stream: rawFrame(masked(ws.Header{Fin: true, OpCode: 0xb}), hi), end: "close 1002"},
		{name: "fragmented ping", stream: clientFrame(ws.OpPing, false, hi), end: "close 1002"},
		{name: "ping over 125 bytes", stream: clientFrame(ws.OpPing, true, pattern(126)), end: "close 1002"},
		{name: "close over 125 bytes", stream: clientFrame(ws.OpClose, true, pattern(200)), end: "close 1002"},
		{name: "continuation without a message", stream: clientFrame(ws.OpContinuation, true, hi), end: "close 1002"},
		{
			name:   "new message inside a fragmented one",
			stream: concat(clientFrame(ws.OpText, false, hi), clientFrame(ws.OpBinary, true, hi)),
			end:    "close 1002",
		},
		{name: "close with a 1-byte body", stream: clientFrame(ws.OpClose, true, []byte{3}), end: "close 1002"},
		{name: "close reason not UTF-8", stream: clientFrame(ws.OpClose, true, closeBody(1000, "\xff")), end: "close 1007"},
		{
			name:   "length with its top bit set",
			stream: append([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1}, testMask[:]...),
			end:    "close 1002",
		},
		{name: "text over the limit", stream: clientFrame(ws.OpText, true, pattern(11)), limit: 10, end: "close 1009"},
		{
			name:   "fragmented text over the limit",
			stream: concat(clientFrame(ws.OpText, false, pattern(6)), clientFrame(ws.OpContinuation, true, pattern(6))),
			limit:  10,
			end:    "close 1009",
		},
		{name: "text not UTF-8", stream: clientFrame(ws.OpText, true, []byte("a\xc3(")), end: "close 1007"},
		{
			name:   "fragmented text not UTF-8",
			stream: concat(clientFrame(ws.OpText, false, []byte("ok")), clientFrame(ws.OpContinuation, true, []byte{0xff})),
			end:    "close 1007",
		},
		{
			name:   "events before the error are delivered",
			stream: concat(clientFrame(ws.OpText, true, hi), rawFrame(ws.Header{Fin: true, OpCode: ws.OpText}, hi)),
			events: []string{text("hi")},
			end:    "close 1002",
		},
		{name: "end inside a header", stream: clientFrame(ws.OpText, true, pattern(300))[:3], end: "unexpected EOF"},
		{name: "end inside a payload", stream: clientFrame(ws.OpText, true, hi)[:7], end: "unexpected EOF"},
		{name: "end inside a message", stream: clientFrame(ws.OpText, false, hi), end: "unexpected EOF"},
	}
	for _, code := range []ws.StatusCode{0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535} {
		cases = append(cases, streamCase{
			name:   fmt.Sprintf("close code %d", code),
			stream: clientFrame(ws.OpClose, true, closeBody(code, "")),
			end:    "close 1002",
		})
	}
	for _, code := range []ws.StatusCode{1000, 1001, 1003, 1007, 1011, 1012, 1014, 3000, 4999} {
		cases = append(cases, streamCase{
			name:   fmt.Sprintf("close code %d", code),
			stream: clientFrame(ws.OpClose, true, closeBody(code, "r")),
			events: []string{fmt.Sprintf(`close %d "r"`, code)},
			end:    "EOF",
		})
	}
	runStreamCases(t, cases)
}

// TestRefusedOnTheHeader checks that a frame refused for its declared
// length is refused before any of its payload arrives: the connection has
// nothing more to give than the header.
func TestRefusedOnTheHeader(t *testing.T) {
	cases := []struct {
		name  string
		frame []byte
		limit int64
		code  ws.StatusCode
	}{
		{"data message over the limit", clientFrame(ws.OpBinary, true, pattern(70_000)), 1 << 16, ws.StatusMessageTooBig},
		{"continuation over the limit", concat(clientFrame(ws.OpText, false, pattern(8)), clientFrame(ws.OpContinuation, true, pattern(30))), 32, ws.StatusMessageTooBig},
		{"ping over 125 bytes", clientFrame(ws.OpPing, true, pattern(126)), 0, ws.StatusProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Everything but the last frame's payload.
			h, hl := lastHeader(t, tc.frame)
			stream := tc.frame[:len(tc.frame)-int(h.Length)]
			nc := &scriptConn{data: bytes.Clone(stream), block: true, next: func() int { return 1 }, end: errWouldBlock}
			got := drain(t, testConn(nc, tc.limit))
			if want := fmt.Sprintf("close %d", tc.code); !strings.HasPrefix(got.end, want) {
				t.Fatalf("end %q, want %q", got.end, want)
			}
			if nc.consumed != len(stream) {
				t.Errorf("read %d bytes of %d (header %d bytes)", nc.consumed, len(stream), hl)
			}
		})
	}
}

// lastHeader finds the header of the last frame in stream.
func lastHeader(t *testing.T, stream []byte) (ws.Header, int) {
	t.Helper()
	for off := 0; ; {
		hl := headerLen(stream[off+1])
		h, err := decodeHeader(stream[off : off+hl])
		if err != nil {
			t.Fatal(err)
		}
		if off+hl+int(h.Length) == len(stream) {
			return h, hl
		}
		off += hl + int(h.Length)
	}
}

// deadlineConn fails every other Read the way a socket past its read
// deadline does.
type deadlineConn struct {
	scriptConn
	flip bool
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if c.flip = !c.flip; c.flip {
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	}
	return c.scriptConn.Read(p)
}

func TestDeadlineCountsAsWouldBlock(t *testing.T) {
	nc := &deadlineConn{scriptConn: scriptConn{data: clientFrame(ws.OpText, true, []byte("slow")), next: func() int { return 1 }}}
	c := newConn(nc, nil, "", UpgradeOptions{}) // no sentinel: deadlines alone
	for {
		ev, err := c.Next()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil || string(ev.Payload) != "slow" {
			t.Fatalf("got %q, %v", ev.Payload, err)
		}
		return
	}
}

func TestErrorsAreFinal(t *testing.T) {
	stream := concat(rawFrame(ws.Header{Fin: true, OpCode: ws.OpText}, []byte("x")), clientFrame(ws.OpText, true, []byte("y")))
	nc := &scriptConn{data: stream}
	c := testConn(nc, 0)
	_, first := c.Next()
	reads := nc.reads
	_, second := c.Next()
	if closeCode(first) != ws.StatusProtocolError || first != second {
		t.Fatalf("first %v, then %v", first, second)
	}
	if nc.reads != reads {
		t.Fatalf("Next read again after a protocol error")
	}
	if c.pending != nil {
		t.Fatalf("kept %d bytes after a final error", len(c.pending))
	}
}

// TestReadAhead: bytes given to the Conn before any Read (what the HTTP
// server had buffered) come first, including a frame they hold in part.
func TestReadAhead(t *testing.T) {
	second := clientFrame(ws.OpBinary, true, pattern(50))
	ahead := concat(clientFrame(ws.OpText, true, []byte("one")), clientFrame(ws.OpPing, true, nil), second[:20])
	nc := &scriptConn{data: concat(second[20:], clientFrame(ws.OpText, true, []byte("three"))), block: true, next: func() int { return 1 }}
	c := newConn(nc, ahead, "", UpgradeOptions{WouldBlock: errWouldBlock})

	ev, err := c.Next()
	if err != nil || describe(ev) != text("one") {
		t.Fatalf("first: %v %v", describe(ev), err)
	}
	if nc.reads != 0 {
		t.Fatalf("read the socket with a whole frame pending")
	}
	got := drain(t, c)
	want := []string{`ping ""`, fmt.Sprintf("binary %q", pattern(50)), text("three")}
	if !equalStrings(got.events, want) || got.end != "EOF" {
		t.Fatalf("got %q, end %q", got.events, got.end)
	}
}

// eofWithDataConn returns io.EOF together with the last bytes.
type eofWithDataConn struct{ scriptConn }

func (c *eofWithDataConn) Read(p []byte) (int, error) {
	n, err := c.scriptConn.Read(p)
	if err == nil && len(c.data) == 0 {
		err = io.EOF
	}
	return n, err
}

func TestBytesWithEOF(t *testing.T) {
	nc := &eofWithDataConn{scriptConn{data: concat(clientFrame(ws.OpText, true, []byte("a")), clientFrame(ws.OpText, true, []byte("b")))}}
	got := drain(t, testConn(nc, 0))
	if !equalStrings(got.events, []string{text("a"), text("b")}) || got.end != "EOF" {
		t.Fatalf("got %q, end %q", got.events, got.end)
	}
}

// stuckConn returns neither bytes nor an error.
type stuckConn struct{ scriptConn }

func (c *stuckConn) Read(p []byte) (int, error) { return 0, nil }

func TestNoProgress(t *testing.T) {
	if _, err := testConn(&stuckConn{}, 0).Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("got %v, want io.ErrNoProgress", err)
	}
}
