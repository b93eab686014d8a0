package wsserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"
)

// echoServer is the server side of the interop tests: it echoes text,
// answers pings and echoes closes. On the path /close it closes first.
type echoServer struct {
	opts UpgradeOptions
	mode readMode

	t      *testing.T
	wg     sync.WaitGroup
	mu     sync.Mutex
	closes []Event // close events received, payload copied
	chosen []string
	// resumed counts would-blocks (deadline or sentinel) that interrupted
	// a frame: evidence that the resume path ran over TLS (logged, not
	// asserted, as it depends on timing).
	resumed int
}

func (e *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.wg.Add(1)
	defer e.wg.Done()
	c, err := Upgrade(w, r, e.opts)
	if err != nil {
		e.t.Errorf("Upgrade: %v", err)
		return
	}
	defer c.NetConn().Close()
	if e.mode == sentinelMode {
		c.NetConn().(*tls.Conn).NetConn().(*flakyConn).armed.Store(true)
	}
	e.mu.Lock()
	e.chosen = append(e.chosen, c.Subprotocol())
	e.mu.Unlock()
	if r.URL.Path == "/close" {
		e.write(c, AppendClose(nil, 4001, "server bye"))
	}
	for {
		ev, err := e.next(c)
		if err != nil {
			e.t.Errorf("server Next: %v", err)
			return
		}
		switch ev.Kind {
		case Text:
			e.write(c, AppendText(nil, ev.Payload))
		case Ping:
			e.write(c, AppendPong(nil, ev.Payload))
		case Close:
			e.mu.Lock()
			e.closes = append(e.closes, Event{Kind: Close, Code: ev.Code, Payload: []byte(string(ev.Payload))})
			e.mu.Unlock()
			if r.URL.Path != "/close" { // else this is the client's answer
				e.write(c, AppendClose(nil, ev.Code, string(ev.Payload)))
			}
			return
		}
	}
}

func (e *echoServer) next(c *Conn) (Event, error) {
	for {
		if e.mode == deadlineMode {
			c.NetConn().SetReadDeadline(time.Now().Add(time.Millisecond))
		}
		ev, err := c.Next()
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, errWouldBlock) {
			if c.pending != nil {
				e.mu.Lock()
				e.resumed++
				e.mu.Unlock()
			}
			continue
		}
		return ev, err
	}
}

func (e *echoServer) write(c *Conn, frame []byte) {
	if _, err := c.NetConn().Write(frame); err != nil {
		e.t.Errorf("server write: %v", err)
	}
}

func (e *echoServer) lastClose() Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.closes) == 0 {
		return Event{}
	}
	return e.closes[len(e.closes)-1]
}

// readMode is how the echo server reads.
type readMode int

const (
	// blockingMode: Next blocks in Read.
	blockingMode readMode = iota
	// deadlineMode: every Next runs under a short read deadline and is
	// called again after the deadline error, as a poller would.
	deadlineMode
	// sentinelMode: the socket under TLS fails every other Read with a
	// would-block error wrapping errWouldBlock, as a nonblocking socket
	// would, and Next is called again after it.
	sentinelMode
)

// startEcho runs an echo server over TLS on 127.0.0.1 and returns it with
// a dial function for coder/websocket clients.
func startEcho(t *testing.T, mode readMode) (*echoServer, func(path string, subprotocols ...string) *websocket.Conn) {
	e := &echoServer{t: t, mode: mode, opts: UpgradeOptions{
		Subprotocols: []string{"wss"},
		ReadLimit:    1 << 20,
		WouldBlock:   errWouldBlock,
	}}
	srv := httptest.NewUnstartedServer(e)
	srv.Listener = flakyListener{srv.Listener}
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		e.wg.Wait() // hijacked handlers are not waited for by srv.Close
		if mode != blockingMode {
			t.Logf("%d reads resumed inside a frame", e.resumed)
		}
	})
	dial := func(path string, subprotocols ...string) *websocket.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(srv.URL, "https")+path, &websocket.DialOptions{
			HTTPClient:   srv.Client(),
			Subprotocols: subprotocols,
		})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		c.SetReadLimit(1 << 20)
		return c
	}
	return e, dial
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestInterop(t *testing.T) {
	for _, mode := range []struct {
		name string
		mode readMode
	}{{"blocking", blockingMode}, {"deadline", deadlineMode}, {"sentinel", sentinelMode}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Run("subprotocols", func(t *testing.T) { testSubprotocols(t, mode.mode) })
			t.Run("text round trips", func(t *testing.T) { testRoundTrips(t, mode.mode) })
			t.Run("fragmented message", func(t *testing.T) { testFragmented(t, mode.mode) })
			t.Run("ping", func(t *testing.T) { testPing(t, mode.mode) })
			t.Run("client close", func(t *testing.T) { testClientClose(t, mode.mode) })
			t.Run("server close", func(t *testing.T) { testServerClose(t, mode.mode) })
		})
	}
}

func testSubprotocols(t *testing.T, mode readMode) {
	e, dial := startEcho(t, mode)
	cases := []struct {
		offered []string
		want    string
	}{
		{[]string{"wss"}, "wss"},
		{[]string{"other", "wss"}, "wss"},
		{nil, ""},
		{[]string{"other"}, ""}, // none in common: go on without one
	}
	for _, tc := range cases {
		c := dial("/", tc.offered...)
		if got := c.Subprotocol(); got != tc.want {
			t.Errorf("offered %q: client got %q, want %q", tc.offered, got, tc.want)
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Errorf("close: %v", err)
		}
	}
	e.wg.Wait()
	for i, tc := range cases {
		if e.chosen[i] != tc.want {
			t.Errorf("offered %q: server chose %q", tc.offered, e.chosen[i])
		}
	}
}

func testRoundTrips(t *testing.T, mode readMode) {
	_, dial := startEcho(t, mode)
	c := dial("/", "wss")
	defer c.CloseNow()
	ctx := testCtx(t)
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 300_000} {
		msg := pattern(n)
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			t.Fatalf("write %d bytes: %v", n, err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != websocket.MessageText || string(got) != string(msg) {
			t.Fatalf("%d bytes: got %v of %d bytes, err %v", n, typ, len(got), err)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// testFragmented sends one message as several frames (one per Write of
// coder's Writer), a rune cut between two of them.
func testFragmented(t *testing.T, mode readMode) {
	_, dial := startEcho(t, mode)
	c := dial("/")
	defer c.CloseNow()
	ctx := testCtx(t)
	w, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	parts := []string{"fragments ", "caf\xc3", "\xa9 ", string(pattern(20_000))}
	for _, p := range parts {
		if _, err := io.WriteString(w, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, got, err := c.Read(ctx)
	if err != nil || string(got) != strings.Join(parts, "") {
		t.Fatalf("got %.40q (%d bytes), err %v", got, len(got), err)
	}
	c.Close(websocket.StatusNormalClosure, "")
}

func testPing(t *testing.T, mode readMode) {
	_, dial := startEcho(t, mode)
	c := dial("/")
	defer c.CloseNow()
	ctx := c.CloseRead(testCtx(t)) // a reader must run for Ping to see the pong
	for i := range 3 {
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
}

func testClientClose(t *testing.T, mode readMode) {
	e, dial := startEcho(t, mode)
	c := dial("/")
	if err := c.Close(4000, "client bye"); err != nil {
		t.Fatalf("close: %v", err) // nil only if our echo came back
	}
	e.wg.Wait()
	if got := e.lastClose(); got.Code != 4000 || string(got.Payload) != "client bye" {
		t.Fatalf("server saw close %d %q", got.Code, got.Payload)
	}
}

func testServerClose(t *testing.T, mode readMode) {
	e, dial := startEcho(t, mode)
	c := dial("/close")
	defer c.CloseNow()
	_, _, err := c.Read(testCtx(t))
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "server bye" {
		t.Fatalf("client read: %v", err)
	}
	e.wg.Wait()
	if got := e.lastClose(); got.Code != 4001 {
		t.Fatalf("server saw the answer %s", fmt.Sprint(got.Code))
	}
}

// TestInteropProtocolError: a client breaking the rules gets the close the
// CloseError asks for. coder/websocket will not send a bad frame, so this
// one speaks raw bytes over TCP.
func TestInteropProtocolError(t *testing.T) {
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		c, err := Upgrade(w, r, UpgradeOptions{ReadLimit: 16})
		if err != nil {
			t.Errorf("Upgrade: %v", err)
			return
		}
		defer c.NetConn().Close()
		_, err = c.Next()
		var ce *CloseError
		if !errors.As(err, &ce) {
			t.Errorf("Next: %v, want a *CloseError", err)
			return
		}
		c.NetConn().Write(AppendClose(nil, ce.Code, ce.Reason))
	}))
	defer srv.Close()
	defer wg.Wait()

	raw, br := rawUpgrade(t, srv, clientFrame(ws.OpText, true, pattern(17)))
	defer raw.Close()
	h, err := ws.ReadHeader(br)
	if err != nil || h.OpCode != ws.OpClose {
		t.Fatalf("got %+v, %v", h, err)
	}
	body := make([]byte, h.Length)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	if code, _ := ws.ParseCloseFrameData(body); code != ws.StatusMessageTooBig {
		t.Fatalf("close code %d, want 1009", code)
	}
}

// flakyListener hands out flakyConns.
type flakyListener struct{ net.Listener }

func (l flakyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &flakyConn{Conn: c}, nil
}

// flakyConn, once armed (after the upgrade, so that the HTTP server never
// sees it), fails every other Read with errTempWouldBlock.
type flakyConn struct {
	net.Conn
	armed atomic.Bool
	flip  bool // touched by the reading goroutine only
}

func (c *flakyConn) Read(p []byte) (int, error) {
	if c.armed.Load() {
		if c.flip = !c.flip; c.flip {
			return 0, errTempWouldBlock{}
		}
	}
	return c.Conn.Read(p)
}

// errTempWouldBlock is a would-block error as crypto/tls needs it: a
// net.Error whose Temporary method is true, or tls would make it permanent.
type errTempWouldBlock struct{}

func (errTempWouldBlock) Error() string   { return "socket would block" }
func (errTempWouldBlock) Timeout() bool   { return false }
func (errTempWouldBlock) Temporary() bool { return true }
func (errTempWouldBlock) Unwrap() error   { return errWouldBlock }
