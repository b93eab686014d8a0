package wsserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// errWouldBlock stands for the sentinel of a nonblocking socket.
var errWouldBlock = errors.New("would block")

// testMask is the masking key of the client frames built here; any key
// works, a fixed one keeps failures reproducible.
var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// clientFrame builds a masked client frame with gobwas.
func clientFrame(op ws.OpCode, fin bool, payload []byte) []byte {
	f := ws.NewFrame(op, fin, bytes.Clone(payload))
	f = ws.MaskFrameInPlaceWith(f, testMask)
	return ws.MustCompileFrame(f)
}

// rawFrame builds a frame from any header, valid or not, with its payload
// masked when the header says so. h.Length is set from payload unless it
// is already set (to lie about the length).
func rawFrame(h ws.Header, payload []byte) []byte {
	if h.Length == 0 {
		h.Length = int64(len(payload))
	}
	var buf bytes.Buffer
	if err := ws.WriteHeader(&buf, h); err != nil {
		panic(err)
	}
	p := bytes.Clone(payload)
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	buf.Write(p)
	return buf.Bytes()
}

func closeBody(code ws.StatusCode, reason string) []byte {
	return ws.NewCloseFrameBody(code, reason)
}

func concat(frames ...[]byte) []byte {
	return bytes.Join(frames, nil)
}

// scriptConn is a net.Conn whose Read hands out a recorded stream, in
// chunks of the sizes next returns, with a would-block error between chunks
// when block is set. At the end of the stream it returns end (io.EOF unless
// set), or keeps blocking if block is set and end is errWouldBlock.
type scriptConn struct {
	data     []byte
	next     func() int // chunk size; nil: as much as asked
	block    bool
	end      error
	blockNow bool
	reads    int // Read calls, would-blocks included
	consumed int // bytes handed out
}

func (c *scriptConn) Read(p []byte) (int, error) {
	c.reads++
	if c.blockNow {
		c.blockNow = false
		return 0, fmt.Errorf("fake socket: %w", errWouldBlock)
	}
	if len(c.data) == 0 {
		if c.end != nil {
			return 0, c.end
		}
		return 0, io.EOF
	}
	n := min(len(p), len(c.data))
	if c.next != nil {
		n = min(n, max(1, c.next()))
	}
	copy(p, c.data[:n])
	c.data = c.data[n:]
	c.consumed += n
	c.blockNow = c.block
	return n, nil
}

func (c *scriptConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *scriptConn) Close() error                       { return nil }
func (c *scriptConn) LocalAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *scriptConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *scriptConn) SetDeadline(t time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(t time.Time) error { return nil }

// testConn makes a Conn reading from nc, as Upgrade would.
func testConn(nc net.Conn, readLimit int64) *Conn {
	return newConn(nc, nil, "", UpgradeOptions{ReadLimit: readLimit, WouldBlock: errWouldBlock})
}

// outcome is what a Conn made of a whole stream: its events, then the
// error that ended it, in a comparable form.
type outcome struct {
	events []string
	end    string
}

// drain calls Next until a final error, retrying on would-block, and
// checks on the way that no call ends with bytes read past a whole frame.
func drain(t testing.TB, c *Conn) outcome {
	t.Helper()
	var out outcome
	for blocks := 0; ; {
		ev, err := c.Next()
		switch {
		case err == nil:
			blocks = 0
			out.events = append(out.events, describe(ev))
		case errors.Is(err, errWouldBlock):
			if blocks++; blocks > 10_000_000 {
				t.Fatalf("Next keeps reporting would block")
			}
		default:
			out.end = describeErr(err)
			return out
		}
	}
}

func describe(ev Event) string {
	if ev.Kind == Close {
		return fmt.Sprintf("%v %d %q", ev.Kind, ev.Code, ev.Payload)
	}
	return fmt.Sprintf("%v %q", ev.Kind, ev.Payload)
}

func describeErr(err error) string {
	var ce *CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("close %d: %s", ce.Code, ce.Reason)
	}
	return err.Error()
}

// closeCode returns the code of err if it is a *CloseError, else 0.
func closeCode(err error) ws.StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}
