package wsserver

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// readServerFrame decodes one frame with gobwas, as a client would.
func readServerFrame(t *testing.T, r io.Reader) (ws.Header, []byte) {
	t.Helper()
	h, err := ws.ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.CheckHeader(h, ws.StateClientSide); err != nil {
		t.Fatalf("client would refuse %+v: %v", h, err)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatal(err)
	}
	return h, p
}

func TestAppendText(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536} {
		prefix := []byte("kept")
		out := AppendText(bytes.Clone(prefix), pattern(n))
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("%d: dst not kept", n)
		}
		r := bytes.NewReader(out[len(prefix):])
		h, p := readServerFrame(t, r)
		if !h.Fin || h.OpCode != ws.OpText || !bytes.Equal(p, pattern(n)) || r.Len() != 0 {
			t.Fatalf("%d: got %+v, %d bytes, %d left", n, h, len(p), r.Len())
		}
		if want := ws.HeaderSize(h) + n; len(out)-len(prefix) != want {
			t.Fatalf("%d: frame of %d bytes, want %d", n, len(out)-len(prefix), want)
		}
	}
}

// TestAppendTextHeader: a header followed by the payload appended in place
// is the frame AppendText makes.
func TestAppendTextHeader(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		got := append(AppendTextHeader([]byte("kept"), n), pattern(n)...)
		if want := AppendText([]byte("kept"), pattern(n)); !bytes.Equal(got, want) {
			t.Fatalf("%d: frames differ", n)
		}
	}
}

func TestAppendControl(t *testing.T) {
	long := pattern(200)
	cases := []struct {
		name    string
		frame   []byte
		op      ws.OpCode
		payload []byte
	}{
		{"ping", AppendPing(nil, []byte("hi")), ws.OpPing, []byte("hi")},
		{"pong", AppendPong(nil, nil), ws.OpPong, []byte{}},
		{"long ping is cut", AppendPing(nil, long), ws.OpPing, long[:125]},
		{"long pong is cut", AppendPong(nil, long), ws.OpPong, long[:125]},
		{"close", AppendClose(nil, ws.StatusNormalClosure, "bye"), ws.OpClose, closeBody(1000, "bye")},
		{"close 1005 has no body", AppendClose(nil, ws.StatusNoStatusRcvd, "ignored"), ws.OpClose, []byte{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, p := readServerFrame(t, bytes.NewReader(tc.frame))
			if h.OpCode != tc.op || !bytes.Equal(p, tc.payload) {
				t.Fatalf("got %v %q, want %v %q", h.OpCode, p, tc.op, tc.payload)
			}
		})
	}
}

func TestAppendCloseReason(t *testing.T) {
	cases := []struct {
		name   string
		reason string
		want   string
	}{
		{"short", "going away", "going away"},
		{"exactly 123 bytes", strings.Repeat("a", 123), strings.Repeat("a", 123)},
		{"ASCII cut", strings.Repeat("a", 200), strings.Repeat("a", 123)},
		{"cut before a rune", strings.Repeat("a", 122) + "é", strings.Repeat("a", 122)},
		{"cut before a 4-byte rune", strings.Repeat("a", 121) + "😀", strings.Repeat("a", 121)},
		{"invalid UTF-8 replaced", "bad\xffbyte", "bad\uFFFDbyte"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, p := readServerFrame(t, bytes.NewReader(AppendClose(nil, 4000, tc.reason)))
			code, reason := ws.ParseCloseFrameData(p)
			if code != 4000 || reason != tc.want || len(p) > ws.MaxControlFramePayloadSize || !utf8.ValidString(reason) {
				t.Fatalf("got %d %q (%d bytes)", code, reason, len(p))
			}
		})
	}
}

// TestAppendThenNext: what the server writes, masked, reads back through
// Next, which checks the close body on the way.
func TestAppendThenNext(t *testing.T) {
	frames := [][]byte{
		AppendText(nil, []byte("hello")),
		AppendPing(nil, []byte("p")),
		AppendClose(nil, 4000, strings.Repeat("é", 100)),
	}
	var stream []byte
	for _, f := range frames {
		h, p := readServerFrame(t, bytes.NewReader(f))
		stream = append(stream, clientFrame(h.OpCode, h.Fin, p)...)
	}
	got := drain(t, testConn(&scriptConn{data: stream}, 0))
	if len(got.events) != 3 || got.end != "EOF" {
		t.Fatalf("got %q, end %q", got.events, got.end)
	}
}
