package signaling

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// queuedPayloads returns the payloads of the deliveries waiting in the
// send queue of clientID's connection ("" for the master) on testARN.
func (e *testEnv) queuedPayloads(clientID string) []string {
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	var out []string
	for c := range e.hub.conns {
		if c.addr.Channel != testARN || c.addr.ClientID != clientID {
			continue
		}
		c.mu.Lock()
		for i := range c.queue {
			if c.queue[i].delivery() {
				out = append(out, c.queue[i].env.Payload)
			}
		}
		c.mu.Unlock()
	}
	return out
}

// fillerPayload is a large ICE candidate payload that fills a socket fast.
var fillerPayload = strings.Repeat("QUJD", 2400)

// blockMasterWriter has viewer send large messages to the master, whose
// client does not read, until the master's writer is stuck on a full
// socket: its send queue then stays non-empty with nothing arriving.
func blockMasterWriter(t *testing.T, e *testEnv, viewer *client) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("the master's writer never blocked")
		}
		for range 20 {
			viewer.send(jsMsg(kvsapi.ActionICECandidate, fillerPayload, "", ""))
		}
		time.Sleep(100 * time.Millisecond)
		if len(e.queuedPayloads("")) > 0 {
			time.Sleep(100 * time.Millisecond)
			if len(e.queuedPayloads("")) > 0 {
				return
			}
		}
	}
}

// stuckMasterEnv starts a hub set up for a master that stops reading (no
// rate limits, no server pings, a send queue long enough not to drop it as
// a slow reader), with cfg applied on top; it connects such a master and a
// viewer "v1" and blocks the master's writer, and returns the viewer.
func stuckMasterEnv(t *testing.T, cfg func(*Config)) (*testEnv, *client) {
	t.Helper()
	return stuckMasterEnvWith(t, cfg, envOptions{parkable: true})
}

// stuckMasterEnvWith is stuckMasterEnv on a hub served as opts say.
func stuckMasterEnvWith(t *testing.T, cfg func(*Config), opts envOptions) (*testEnv, *client) {
	t.Helper()
	e := startEnv(t, func(c *Config) {
		relaxedRates(c)
		c.SendQueueLength = 4096
		c.PingInterval = 0
		cfg(c)
	}, opts)
	if _, err := e.tryDial(e.url(testARN, ""), nil, false); err != nil { // never reads
		t.Fatal(err)
	}
	viewer := e.dial("v1")
	blockMasterWriter(t, e, viewer)
	return e, viewer
}

// relaxedRates lets a test send as fast as it likes.
func relaxedRates(c *Config) {
	c.ICECandidatesPerSecond = 1e6
	c.ICECandidateBurst = 1e6
}

// TestTakeoverGetsUnwrittenMessages: messages the bus delivered to a
// master connection that could not write them (its client stopped
// reading) are not lost when a newer master takes the identity over: the
// newer one receives every one of them.
func TestTakeoverGetsUnwrittenMessages(t *testing.T) {
	e, viewer := stuckMasterEnv(t, func(c *Config) {
		c.WriteTimeout = Duration(500 * time.Millisecond)
	})

	const n = 20
	marks := make([]string, n)
	for i := range marks {
		marks[i] = fmt.Sprintf("bWFyay%04d", i)
		viewer.send(jsMsg(kvsapi.ActionICECandidate, marks[i], "", ""))
	}
	waitFor(t, "the marks queued at the stuck master", func() bool {
		q := e.queuedPayloads("")
		return len(q) >= n && q[len(q)-1] == marks[n-1]
	})
	if got := e.metric("messages_relayed_total", "type", kvsapi.ActionICECandidate, "outcome", "queued"); got != 0 {
		t.Fatalf("%v messages went to the mailbox, want all delivered to the stuck master", got)
	}

	fresh := e.dial("") // takeover
	for next := 0; next < n; {
		frame := fresh.next()
		if strings.Contains(frame, fillerPayload) {
			continue // fillers the stuck master did not write either
		}
		if want := toMaster("v1", kvsapi.ActionICECandidate, marks[next]); frame != want {
			t.Fatalf("frame %d at the new master:\n got %s\nwant %s", next, frame, want)
		}
		next++
	}
}

// rawFrame is one frame as a raw client read it.
type rawFrame struct {
	op      ws.OpCode
	payload []byte
}

// readRawFrames reads server frames until the connection ends or the
// deadline passes, and returns them with the error that stopped reading.
func readRawFrames(raw net.Conn, r io.Reader, deadline time.Time) ([]rawFrame, error) {
	_ = raw.SetReadDeadline(deadline)
	var frames []rawFrame
	for {
		h, err := ws.ReadHeader(r)
		if err != nil {
			return frames, err
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(r, payload); err != nil {
			return frames, err
		}
		frames = append(frames, rawFrame{h.OpCode, payload})
	}
}

// checkNothingAfterClose fails unless frames end with their only close
// frame.
func checkNothingAfterClose(t *testing.T, frames []rawFrame) {
	t.Helper()
	for i, f := range frames {
		if f.op != ws.OpClose {
			continue
		}
		if rest := len(frames) - i - 1; rest != 0 {
			t.Fatalf("%d frames after the server's close frame (the first: opcode %v, %d bytes)",
				rest, frames[i+1].op, len(frames[i+1].payload))
		}
		return
	}
	t.Fatalf("no close frame among %d frames", len(frames))
}

// TestNoDataAfterCloseEcho: when the client closes while the server's
// writer is in the middle of a long batch, the server's echo of the close
// is the last frame it writes (RFC 6455 5.5.1).
func TestNoDataAfterCloseEcho(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		relaxedRates(c)
		c.SendQueueLength = 4096
		c.PingInterval = 0
	})
	raw, br := rawUpgrade(t, e, "")
	viewer := e.dial("v1")
	blockMasterWriter(t, e, viewer)
	for range 40 { // more chunks for the writer to go on with
		viewer.send(jsMsg(kvsapi.ActionICECandidate, fillerPayload, "", ""))
	}
	waitFor(t, "the last fillers queued", func() bool { return len(e.queuedPayloads("")) >= 40 })
	// The writer holds the socket; the reader gets the close and waits to
	// echo it. Reading lets the writer go on, and the echo in.
	if _, err := raw.Write(maskedFrame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the reader take the close and wait for the socket
	frames, err := readRawFrames(raw, br, time.Now().Add(10*time.Second))
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading until the server closes: %v", err)
	}
	checkNothingAfterClose(t, frames)
}

// TestOneCloseFrameAfterProtocolError: a client that breaks the protocol
// after the server's close frame went out gets no second close frame.
func TestOneCloseFrameAfterProtocolError(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PingInterval = 0 })
	raw, br := rawUpgrade(t, e, "v1")
	waitFor(t, "the viewer connected", func() bool { return e.hasConn("v1") })
	e.hub.CloseChannel(testAccount, testARN) // GO_AWAY and a close frame
	frames, err := readRawFrames(raw, br, time.Now().Add(200*time.Millisecond))
	if !isTimeout(err) {
		t.Fatalf("reading GO_AWAY and the close: %v", err)
	}
	if len(frames) != 2 || frames[1].op != ws.OpClose {
		t.Fatalf("got %d frames before the client's answer, want GO_AWAY and a close", len(frames))
	}
	// Instead of its close frame, the client sends an unmasked frame
	// (RFC 6455 5.1: the server must close with 1002). It is empty, so
	// that the server reads all of it and ends with a FIN, not a reset.
	if _, err := raw.Write(ws.MustCompileFrame(ws.NewTextFrame(nil))); err != nil {
		t.Fatal(err)
	}
	more, err := readRawFrames(raw, br, time.Now().Add(10*time.Second))
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading until the server closes: %v", err)
	}
	checkNothingAfterClose(t, append(frames, more...))
}

// isTimeout reports whether a read ended at its deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestForcedShutdownCutsGracefulClose: when Shutdown's context ends while
// a connection waits for the client's answer to the server's close frame,
// the connection is dropped by the time Shutdown returns, not when the
// closing clock (write_timeout) runs out.
func TestForcedShutdownCutsGracefulClose(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.ShutdownDrain = Duration(100 * time.Millisecond)
		c.WriteTimeout = Duration(10 * time.Second)
		c.PingInterval = 0
	})
	raw, br := rawUpgrade(t, e, "v1") // never answers the close frame
	waitFor(t, "the viewer connected", func() bool { return e.hasConn("v1") })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := e.hub.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	// Everything the server wrote is in the socket already; the end of
	// the stream must follow at once.
	frames, err := readRawFrames(raw, br, time.Now().Add(2*time.Second))
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("after Shutdown returned the connection is still open: %v (after %d frames)", err, len(frames))
	}
	if len(frames) != 2 || string(frames[0].payload) != goAway || frames[1].op != ws.OpClose {
		t.Fatalf("frames before the drop = %+v, want GO_AWAY and a close", frames)
	}
}

// TestTakeoverKeepsSenderOrder: the messages a displaced master could not
// write reach the newer master before anything the same viewer sends after
// the takeover (spec 6.6: FIFO per sender and recipient). Here a viewer's
// offer waits at the stuck master when a new master takes over, and the
// viewer's next candidate must not overtake it.
func TestTakeoverKeepsSenderOrder(t *testing.T) {
	e, viewer := stuckMasterEnv(t, func(c *Config) {
		c.WriteTimeout = Duration(500 * time.Millisecond)
	})
	const offer, cand = "b2ZmZXI=", "Y2FuZA=="
	viewer.send(jsMsg(kvsapi.ActionSDPOffer, offer, "", ""))
	waitFor(t, "the offer queued at the stuck master", func() bool {
		q := e.queuedPayloads("")
		return len(q) > 0 && q[len(q)-1] == offer
	})

	fresh := e.dial("") // takeover
	viewer.send(jsMsg(kvsapi.ActionICECandidate, cand, "", ""))
	var got []string
	for len(got) < 2 {
		frame := fresh.next()
		if strings.Contains(frame, fillerPayload) {
			continue // fillers the stuck master did not write either
		}
		got = append(got, frame)
	}
	want := []string{toMaster("v1", kvsapi.ActionSDPOffer, offer), toMaster("v1", kvsapi.ActionICECandidate, cand)}
	if got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("the new master received, in this order:\n %s\n %s\nwant the offer first:\n %s\n %s", got[0], got[1], want[0], want[1])
	}
	waitFor(t, "no hand-back left pending", func() bool { return e.hub.handovers.pending() == 0 })
}

// pending counts the hand-backs still recorded, by connection and by
// address.
func (hs *handovers) pending() int {
	n := 0
	count := func(_, _ any) bool { n++; return true }
	hs.byConn.Range(count)
	hs.byAddr.Range(count)
	return n
}

// TestForcedShutdownCutsStuckWrite: when Shutdown's context ends during
// the drain, a connection whose writer is stuck on a client that does not
// read (here on the GO_AWAY and the messages before it) is dropped by the
// time Shutdown returns, as Shutdown promises, not when the stuck write
// runs out of write_timeout.
func TestForcedShutdownCutsStuckWrite(t *testing.T) {
	e, _ := stuckMasterEnv(t, func(c *Config) {
		c.ShutdownDrain = Duration(5 * time.Second)
		c.WriteTimeout = Duration(20 * time.Second)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := e.hub.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for e.hasConn("") {
		if time.Now().After(deadline) {
			t.Fatal("the master whose writer is stuck is still connected 2s after the forced Shutdown returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAbortSendsNothingOverTLS: dropping a connection (abort) closes its
// TCP socket without a TLS close_notify alert. tls.Conn.Close would send
// one first, with a 5-second deadline, which blocks on a client that does
// not read; the forced shutdown drops connections one after another, so
// that could hold it for 5 seconds per such client.
func TestAbortSendsNothingOverTLS(t *testing.T) {
	e := newTLSEnv(t, func(c *Config) { c.PingInterval = 0 })
	req := upgradeRequest(t, e.url(testARN, ""))
	req.URL.Scheme = "https"
	tcp, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tcp.Close() })
	cfg := e.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone() //nolint:forcetypeassert // httptest's client
	// httptest's certificate holds this name (and loopback addresses).
	cfg.ServerName = "example.com"
	tc := tls.Client(tcp, cfg)
	if err := req.Write(tc); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v", resp, err)
	}
	var master *conn
	waitFor(t, "the master to be served", func() bool {
		master = e.connOf("")
		if master == nil {
			return false
		}
		master.mu.Lock()
		defer master.mu.Unlock()
		return master.started
	})

	master.abort()
	_ = tcp.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, tcp) // under TLS: every byte the server sends
	if err != nil || n != 0 {
		t.Fatalf("after abort the client's socket received %d bytes (%v), want none before the end of the stream", n, err)
	}
}
