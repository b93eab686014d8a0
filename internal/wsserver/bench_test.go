package wsserver

import (
	"errors"
	"testing"

	"github.com/gobwas/ws"
)

// loopConn serves the same bytes over and over.
type loopConn struct {
	scriptConn
	frame []byte
	off   int
}

func (c *loopConn) Read(p []byte) (int, error) {
	n := copy(p, c.frame[c.off:])
	c.off = (c.off + n) % len(c.frame)
	return n, nil
}

// BenchmarkNext reads a typical signaling message (a few hundred bytes).
func BenchmarkNext(b *testing.B) {
	frame := clientFrame(ws.OpText, true, pattern(400))
	c := testConn(&loopConn{frame: frame}, 0)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNextResume reads the same message arriving in pieces of 200
// bytes, a would-block after each.
func BenchmarkNextResume(b *testing.B) {
	frame := clientFrame(ws.OpText, true, pattern(400))
	nc := &scriptConn{block: true, next: func() int { return 200 }}
	c := testConn(nc, 0)
	b.ReportAllocs()
	for b.Loop() {
		nc.data = frame
		for {
			_, err := c.Next()
			if err == nil {
				break
			}
			if !errors.Is(err, errWouldBlock) {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkAppendText(b *testing.B) {
	payload := pattern(400)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendText(buf[:0], payload)
	}
}
