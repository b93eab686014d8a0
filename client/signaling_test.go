package client

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// fakeHub is a loopback WebSocket server that checks every presigned URL
// and runs a script per connection attempt (n counts from 1). It lets the
// client's lifecycle be tested without the real server.
type fakeHub struct {
	t      *testing.T
	srv    *httptest.Server
	conns  atomic.Int32
	pings  atomic.Int32
	script func(h *fakeHub, n int, w http.ResponseWriter, r *http.Request)
}

func newFakeHub(t *testing.T, script func(h *fakeHub, n int, w http.ResponseWriter, r *http.Request)) *fakeHub {
	t.Helper()
	h := &fakeHub{t: t, script: script}
	h.srv = quietTLSServer(h)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := testVerifier().VerifyPresigned(r); err != nil {
		h.t.Errorf("presigned URL refused: %v", err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	h.script(h, int(h.conns.Add(1)), w, r)
}

// accept upgrades and counts the client's pings.
func (h *fakeHub) accept(w http.ResponseWriter, r *http.Request) *websocket.Conn {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OnPingReceived: func(context.Context, []byte) bool { h.pings.Add(1); return true },
	})
	if err != nil {
		h.t.Errorf("accept: %v", err)
		return nil
	}
	return ws
}

// drain reads until the connection ends, so that control frames are
// answered.
func drain(ws *websocket.Conn) {
	for {
		if _, _, err := ws.Read(context.Background()); err != nil {
			return
		}
	}
}

func refuse(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("x-amzn-ErrorType", code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "Message": message})
}

func (h *fakeHub) config(role, clientID string) SignalingConfig {
	return SignalingConfig{
		Endpoint:   strings.Replace(h.srv.URL, "https://", "wss://", 1),
		ChannelARN: testARN, Role: role, ClientID: clientID, Region: "us-west-2", Credentials: testCreds,
		TLSConfig:        h.srv.Client().Transport.(*http.Transport).TLSClientConfig,
		ReconnectBackoff: 10 * time.Millisecond,
	}
}

func dialFake(t *testing.T, cfg SignalingConfig) *SignalingClient {
	t.Helper()
	c, err := DialSignaling(context.Background(), cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// next returns the next event, failing after 5 seconds.
func next(t *testing.T, c *SignalingClient) Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatalf("event stream closed (Err %v)", c.Err())
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return Event{}
}

func wantState(t *testing.T, ev Event, s State) {
	t.Helper()
	if !ev.IsStateChange() || ev.State != s {
		t.Fatalf("got %+v, want state %s", ev, s)
	}
}

func TestSignalingSendAndReceive(t *testing.T) {
	frames := make(chan string, 1)
	hub := newFakeHub(t, func(h *fakeHub, _ int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		_, frame, err := ws.Read(context.Background())
		if err != nil {
			return
		}
		frames <- string(frame)
		var msg kvsapi.ClientMessage
		_ = json.Unmarshal(frame, &msg)
		ev, _ := json.Marshal(kvsapi.Event{SenderClientID: r.URL.Query().Get(kvsapi.QueryClientID), MessageType: msg.Action, MessagePayload: msg.MessagePayload})
		_ = ws.Write(context.Background(), websocket.MessageText, ev)
		drain(ws)
	})
	c := dialFake(t, hub.config(kvsapi.RoleViewer, "viewer-1"))
	wantState(t, next(t, c), StateConnected)
	offer := SessionDescription{SDP: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"}
	if err := c.SendOffer(context.Background(), "ignored-for-viewers", offer); err != nil {
		t.Fatal(err)
	}
	if got, want := <-frames, `{"action":"SDP_OFFER","messagePayload":"`+appendixOffer+`"}`; got != want {
		t.Fatalf("frame %s, want %s", got, want)
	}
	ev := next(t, c)
	sd, err := ev.SessionDescription()
	if ev.MessageType != kvsapi.ActionSDPOffer || ev.SenderClientID != "viewer-1" || ev.MessagePayload != appendixOffer || err != nil || sd.Type != "offer" {
		t.Fatalf("event %+v (%v)", ev, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for range c.Events() {
	}
	if c.Close() != nil || c.Err() != nil || c.State() != StateClosed {
		t.Fatalf("after Close: state %s, err %v", c.State(), c.Err())
	}
	if err := c.SendOffer(context.Background(), "", offer); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	checkNoClientGoroutines(t)
}

// checkNoClientGoroutines fails if a goroutine of this package outlives
// the clients, which must all be closed when it is called.
func checkNoClientGoroutines(t *testing.T) {
	t.Helper()
	var stacks string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "client.(*SignalingClient)") && !strings.Contains(stacks, "client.(*session)") {
			return
		}
	}
	t.Fatalf("client goroutines still running after Close:\n%s", stacks)
}

// TestSignalingReconnectICEServerIsAnEvent: RECONNECT_ICE_SERVER is
// handed to the caller and the connection stays up.
func TestSignalingReconnectICEServerIsAnEvent(t *testing.T) {
	h := newFakeHub(t, func(h *fakeHub, _ int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		_ = ws.Write(context.Background(), websocket.MessageText, []byte(`{"message":"Endpoint request timed out"}`))
		_ = ws.Write(context.Background(), websocket.MessageText, []byte(`{"messageType":"RECONNECT_ICE_SERVER"}`))
		drain(ws)
	})
	cfg := h.config(kvsapi.RoleMaster, "")
	cfg.Reconnect = true
	c := dialFake(t, cfg)
	wantState(t, next(t, c), StateConnected)
	if ev := next(t, c); ev.MessageType != kvsapi.MessageReconnectICEServer {
		t.Fatalf("got %+v, want RECONNECT_ICE_SERVER (the frame without messageType skipped)", ev)
	}
	if err := c.SendAnswer(context.Background(), "viewer-1", SessionDescription{SDP: "v=0\r\n"}); err != nil || c.State() != StateConnected {
		t.Fatalf("after RECONNECT_ICE_SERVER: state %s, send %v", c.State(), err)
	}
	if n := h.conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

func TestSignalingReplacedDoesNotReconnect(t *testing.T) {
	h := newFakeHub(t, func(h *fakeHub, _ int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		_ = ws.Write(context.Background(), websocket.MessageText, []byte(`{"messageType":"GO_AWAY"}`))
		_ = ws.Close(websocket.StatusNormalClosure, "replaced by a newer connection with the same identity")
	})
	cfg := h.config(kvsapi.RoleMaster, "")
	cfg.Reconnect = true
	c := dialFake(t, cfg)
	wantState(t, next(t, c), StateConnected)
	if ev := next(t, c); ev.MessageType != kvsapi.MessageGoAway {
		t.Fatalf("got %+v, want GO_AWAY", ev)
	}
	ev := next(t, c)
	wantState(t, ev, StateClosed)
	if !errors.Is(ev.Err, ErrReplaced) || !errors.Is(c.Err(), ErrReplaced) {
		t.Fatalf("closed with %v / %v, want ErrReplaced", ev.Err, c.Err())
	}
	if n := h.conns.Load(); n != 1 {
		t.Fatalf("%d connection attempts, want 1", n)
	}
}

func TestSignalingGoAwayReconnectsAndReportsRefusal(t *testing.T) {
	h := newFakeHub(t, func(h *fakeHub, n int, w http.ResponseWriter, r *http.Request) {
		if n > 1 {
			refuse(w, http.StatusNotFound, "ResourceNotFoundException", kvsapi.ChannelNotFoundMessage)
			return
		}
		ws := h.accept(w, r)
		_ = ws.Write(context.Background(), websocket.MessageText, []byte(`{"messageType":"GO_AWAY"}`))
		_ = ws.Close(websocket.StatusGoingAway, "signaling channel deleted")
	})
	cfg := h.config(kvsapi.RoleViewer, "viewer-1")
	cfg.Reconnect = true
	c := dialFake(t, cfg)
	wantState(t, next(t, c), StateConnected)
	if ev := next(t, c); ev.MessageType != kvsapi.MessageGoAway {
		t.Fatalf("got %+v, want GO_AWAY", ev)
	}
	ev := next(t, c)
	wantState(t, ev, StateReconnecting)
	if !errors.Is(ev.Err, ErrDisconnected) || !strings.Contains(ev.Err.Error(), "signaling channel deleted") {
		t.Fatalf("reconnecting because %v", ev.Err)
	}
	ev = next(t, c)
	wantState(t, ev, StateClosed)
	if !errors.Is(ev.Err, ErrReconnectFailed) || !IsNotFound(ev.Err) {
		t.Fatalf("closed with %v, want a reconnect refused with 404", ev.Err)
	}
	t.Logf("after deletion: %v", ev.Err)
	if strings.Contains(ev.Err.Error(), "X-Amz-Signature") {
		t.Fatalf("error leaks the signed URL: %v", ev.Err)
	}
	if _, ok := <-c.Events(); ok {
		t.Fatal("event stream not closed after StateClosed")
	}
	if n := h.conns.Load(); n != 2 {
		t.Fatalf("%d connection attempts, want 2", n)
	}
}

func TestSignalingReconnectsAfterDrop(t *testing.T) {
	h := newFakeHub(t, func(h *fakeHub, n int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		if n == 1 {
			_ = ws.CloseNow() // network failure: no close frame
			return
		}
		drain(ws)
	})
	cfg := h.config(kvsapi.RoleMaster, "")
	cfg.Reconnect = true
	c := dialFake(t, cfg)
	wantState(t, next(t, c), StateConnected)
	wantState(t, next(t, c), StateReconnecting)
	wantState(t, next(t, c), StateConnected)
	if err := c.SendICECandidate(context.Background(), "viewer-1", ICECandidate{Candidate: "candidate:1 1 udp 1 192.0.2.1 9 typ host"}); err != nil {
		t.Fatalf("send after reconnect: %v", err)
	}
}

func TestSignalingGoAwayWithoutCloseReconnectsAfterGrace(t *testing.T) {
	h := newFakeHub(t, func(h *fakeHub, n int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		if n == 1 {
			_ = ws.Write(context.Background(), websocket.MessageText, []byte(`{"messageType":"GO_AWAY"}`))
		}
		drain(ws)
	})
	cfg := h.config(kvsapi.RoleMaster, "")
	cfg.Reconnect = true
	c := dialFake(t, cfg)
	wantState(t, next(t, c), StateConnected)
	if ev := next(t, c); ev.MessageType != kvsapi.MessageGoAway {
		t.Fatalf("got %+v, want GO_AWAY", ev)
	}
	wantState(t, next(t, c), StateReconnecting)
	wantState(t, next(t, c), StateConnected)
}

func TestSignalingKeepalive(t *testing.T) {
	h := newFakeHub(t, func(h *fakeHub, n int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		if n == 1 {
			drain(ws) // answers pings
			return
		}
		time.Sleep(time.Second) // reads nothing, so pings go unanswered
		_ = ws.CloseNow()
	})
	cfg := h.config(kvsapi.RoleMaster, "")
	cfg.KeepaliveInterval = 50 * time.Millisecond
	c := dialFake(t, cfg)
	wantState(t, next(t, c), StateConnected)
	deadline := time.Now().Add(5 * time.Second)
	for h.pings.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h.pings.Load() < 3 {
		t.Fatalf("%d pings, want at least 3", h.pings.Load())
	}
	_ = c.Close()

	cfg.Reconnect = true
	c = dialFake(t, cfg)
	wantState(t, next(t, c), StateConnected)
	ev := next(t, c)
	wantState(t, ev, StateReconnecting)
	if !strings.Contains(ev.Err.Error(), "keepalive") {
		t.Fatalf("reconnecting because %v, want a keepalive failure", ev.Err)
	}
}

func TestDialSignalingErrors(t *testing.T) {
	h := newFakeHub(t, func(h *fakeHub, _ int, w http.ResponseWriter, _ *http.Request) {
		refuse(w, http.StatusForbidden, "InvalidSignatureException", "Signature expired: 20260101T000000Z is now earlier than ...")
	})
	_, err := DialSignaling(context.Background(), h.config(kvsapi.RoleViewer, "viewer-1"))
	if !IsAuthFailure(err) || strings.Contains(err.Error(), "X-Amz-") {
		t.Fatalf("refused handshake: %v", err)
	}
	t.Logf("refused handshake: %v", err)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := h.config(kvsapi.RoleMaster, "")
	cfg.Endpoint = "wss://" + addr
	_, err = DialSignaling(context.Background(), cfg)
	if !errors.Is(err, ErrUnreachable) || strings.Contains(err.Error(), "X-Amz-") {
		t.Fatalf("closed port: %v", err)
	}
	t.Logf("closed port: %v", err)

	cfg = h.config(kvsapi.RoleMaster, "")
	cfg.TLSConfig = nil
	_, err = DialSignaling(context.Background(), cfg)
	if !errors.Is(err, ErrUntrustedCertificate) || strings.Contains(err.Error(), "X-Amz-") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	t.Logf("untrusted certificate: %v", err)
}

func TestSendValidation(t *testing.T) {
	h := newFakeHub(t, func(h *fakeHub, _ int, w http.ResponseWriter, r *http.Request) { drain(h.accept(w, r)) })
	c := dialFake(t, h.config(kvsapi.RoleMaster, ""))
	cases := []kvsapi.ClientMessage{
		{Action: kvsapi.ActionSDPAnswer, MessagePayload: "e30="},
		{RecipientClientID: "v1", MessagePayload: "e30="},
		{Action: kvsapi.ActionSDPAnswer, RecipientClientID: "v1"},
	}
	for _, msg := range cases {
		if err := c.Send(context.Background(), msg); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%+v: got %v, want ErrInvalidMessage", msg, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Send(ctx, kvsapi.ClientMessage{Action: kvsapi.ActionSDPAnswer, RecipientClientID: "v1", MessagePayload: "e30="}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestCloseWhileReconnecting(t *testing.T) {
	h := newFakeHub(t, func(h *fakeHub, n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			_ = h.accept(w, r).CloseNow()
			return
		}
		refuse(w, http.StatusServiceUnavailable, "ServiceUnavailableException", "shutting down")
	})
	cfg := h.config(kvsapi.RoleMaster, "")
	cfg.Reconnect, cfg.ReconnectBackoff = true, 200*time.Millisecond
	c := dialFake(t, cfg)
	wantState(t, next(t, c), StateConnected)
	wantState(t, next(t, c), StateReconnecting)
	if err := c.Send(context.Background(), kvsapi.ClientMessage{Action: "SDP_OFFER", RecipientClientID: "v", MessagePayload: "e30="}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("send while reconnecting: %v", err)
	}
	start := time.Now()
	_ = c.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %s", d)
	}
	if c.Err() != nil {
		t.Fatalf("Err after Close: %v", c.Err())
	}
	checkNoClientGoroutines(t)
}

// TestCloseIsBoundedWhenPeerIsSilent: a server that never answers the
// close handshake cannot hold Close up for long.
func TestCloseIsBoundedWhenPeerIsSilent(t *testing.T) {
	release := make(chan struct{})
	h := newFakeHub(t, func(h *fakeHub, _ int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		<-release // reads nothing: no pong, no close reply
		_ = ws.CloseNow()
	})
	defer close(release)
	cfg := h.config(kvsapi.RoleViewer, "viewer-1")
	cfg.KeepaliveInterval = -1
	c := dialFake(t, cfg)
	wantState(t, next(t, c), StateConnected)
	start := time.Now()
	_ = c.Close()
	if d := time.Since(start); d > closeTimeout+time.Second {
		t.Fatalf("Close took %s", d)
	}
}
