package wsserver

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// sampleKey and sampleAccept are the example of RFC 6455 section 1.3.
const (
	sampleKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	sampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

func upgradeRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/ws", nil)
	r.Header.Set("Connection", "keep-alive, Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", sampleKey)
	return r
}

// hijackRecorder is a ResponseWriter that can be hijacked, handing out a
// fake connection and a reader that already buffered ahead bytes.
type hijackRecorder struct {
	*httptest.ResponseRecorder
	conn     net.Conn
	ahead    []byte
	out      bytes.Buffer // what was written after the hijack
	hijacked bool
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.hijacked = true
	br := bufio.NewReader(io.MultiReader(bytes.NewReader(h.ahead), h.conn))
	if len(h.ahead) > 0 {
		br.Peek(len(h.ahead)) // what the server had read ahead
	}
	return h.conn, bufio.NewReadWriter(br, bufio.NewWriter(&h.out)), nil
}

func TestUpgradeRefusals(t *testing.T) {
	if status, reason := CheckRequest(upgradeRequest()); status != 0 || reason != "" {
		t.Fatalf("CheckRequest of a valid upgrade = %d %q, want 0", status, reason)
	}
	cases := []struct {
		name   string
		edit   func(r *http.Request)
		status int
	}{
		{"POST", func(r *http.Request) { r.Method = http.MethodPost }, 400},
		{"HTTP/1.0", func(r *http.Request) { r.ProtoMajor, r.ProtoMinor = 1, 0 }, 400},
		{"no Connection", func(r *http.Request) { r.Header.Del("Connection") }, 400},
		{"Connection without upgrade", func(r *http.Request) { r.Header.Set("Connection", "keep-alive, upgrades") }, 400},
		{"no Upgrade", func(r *http.Request) { r.Header.Del("Upgrade") }, 400},
		{"Upgrade h2c", func(r *http.Request) { r.Header.Set("Upgrade", "h2c") }, 400},
		{"no version", func(r *http.Request) { r.Header.Del("Sec-WebSocket-Version") }, 426},
		{"version 8", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8") }, 426},
		{"no key", func(r *http.Request) { r.Header.Del("Sec-WebSocket-Key") }, 400},
		{"key not base64", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "not base64!") }, 400},
		{"key of 15 bytes", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA") }, 400},
		{"body", func(r *http.Request) { r.Body, r.ContentLength = io.NopCloser(strings.NewReader("{}")), 2 }, 400},
		{"chunked body", func(r *http.Request) { r.Body, r.ContentLength = io.NopCloser(strings.NewReader("{}")), -1 }, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := upgradeRequest()
			tc.edit(r)
			if status, reason := CheckRequest(r); status != tc.status || reason == "" {
				t.Fatalf("CheckRequest = %d %q, want %d and a reason", status, reason, tc.status)
			}
			w := &hijackRecorder{ResponseRecorder: httptest.NewRecorder(), conn: &scriptConn{}}
			c, err := Upgrade(w, r, UpgradeOptions{})
			if c != nil || !errors.Is(err, ErrBadHandshake) {
				t.Fatalf("got %v, %v; want ErrBadHandshake", c, err)
			}
			if w.hijacked {
				t.Fatal("hijacked a refused request")
			}
			if w.Code != tc.status || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
				t.Fatalf("status %d (%s), want %d text/plain", w.Code, w.Header().Get("Content-Type"), tc.status)
			}
			if got := w.Header().Get("Sec-WebSocket-Version"); (tc.status == 426) != (got == "13") {
				t.Fatalf("Sec-WebSocket-Version %q with status %d", got, tc.status)
			}
		})
	}
}

// TestUpgradeReply checks the 101 reply and that bytes read ahead of the
// upgrade reach Next first, before the connection is read.
func TestUpgradeReply(t *testing.T) {
	first := clientFrame(ws.OpText, true, []byte("early"))
	second := clientFrame(ws.OpText, true, []byte("split"))
	nc := &scriptConn{data: concat(second[4:], clientFrame(ws.OpText, true, []byte("later")))}
	w := &hijackRecorder{ResponseRecorder: httptest.NewRecorder(), conn: nc, ahead: concat(first, second[:4])}
	w.Header().Set("X-Request-Id", "abc") // set by a middleware: kept
	r := upgradeRequest()
	r.Header.Add("Sec-WebSocket-Protocol", "chat, wss")
	r.Header.Add("Sec-WebSocket-Protocol", "other")
	r.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")

	c, err := Upgrade(w, r, UpgradeOptions{Subprotocols: []string{"other", "wss"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(&w.out), r)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Upgrade":                  "websocket",
		"Connection":               "Upgrade",
		"Sec-WebSocket-Accept":     sampleAccept,
		"Sec-WebSocket-Protocol":   "other", // our first choice among those offered
		"Sec-WebSocket-Extensions": "",
		"X-Request-Id":             "abc",
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if c.Subprotocol() != "other" || c.NetConn() != nc {
		t.Fatalf("Subprotocol %q, NetConn %v", c.Subprotocol(), c.NetConn())
	}
	got := drain(t, c)
	if !equalStrings(got.events, []string{text("early"), text("split"), text("later")}) {
		t.Fatalf("events %q", got.events)
	}
}

// TestUpgradeReadAheadOverTCP sends the upgrade request and a first frame in
// one write over a real socket; the frame must be delivered whether or not
// the HTTP server had read it with the request.
func TestUpgradeReadAheadOverTCP(t *testing.T) {
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		c, err := Upgrade(w, r, UpgradeOptions{})
		if err != nil {
			t.Errorf("Upgrade: %v", err)
			return
		}
		defer c.NetConn().Close()
		t.Logf("%d bytes read ahead of the upgrade", len(c.pending))
		ev, err := c.Next()
		if err != nil {
			t.Errorf("Next: %v", err)
			return
		}
		c.NetConn().Write(AppendText(nil, ev.Payload))
	}))
	defer srv.Close()
	defer wg.Wait()

	raw, br := rawUpgrade(t, srv, clientFrame(ws.OpText, true, []byte("pipelined")))
	defer raw.Close()
	h, err := ws.ReadHeader(br)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(br, p); err != nil || h.OpCode != ws.OpText || h.Masked || string(p) != "pipelined" {
		t.Fatalf("got %+v %q, %v", h, p, err)
	}
}

// TestUpgradeRefusalOverTCP: a refused request gets a plain HTTP answer and
// the connection stays an HTTP connection.
func TestUpgradeRefusalOverTCP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := Upgrade(w, r, UpgradeOptions{}); !errors.Is(err, ErrBadHandshake) {
			t.Errorf("Upgrade: %v", err)
		}
	}))
	defer srv.Close()
	client := srv.Client()
	for range 2 { // the second request reuses the connection
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "refused") {
			t.Fatalf("status %d, body %q", resp.StatusCode, body)
		}
	}
}

// rawUpgrade dials srv (on 127.0.0.1), writes an upgrade request followed by
// early in a single write, and reads the 101 reply.
func rawUpgrade(t *testing.T, srv *httptest.Server, early []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	raw, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	raw.SetDeadline(time.Now().Add(20 * time.Second)) // against a hang, not a timing check
	req := "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + sampleKey + "\r\n\r\n"
	if _, err := raw.Write(append([]byte(req), early...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(raw)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != sampleAccept {
		t.Fatalf("reply %d, accept %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	return raw, br
}
