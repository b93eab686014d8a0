package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// scriptedPeer is a loopback WebSocket endpoint that checks every
// presigned URL and then does what our server never does, scripted per
// connection attempt (n counts from 1): it drops the TCP connection without
// a close frame, sends GO_AWAY and stays open, stops answering pings or the
// close handshake, or sends what AWS's endpoint sends and ours does not
// (RECONNECT_ICE_SERVER, frames without a messageType). It tests the
// client's own timers and recovery. Everything our server does is tested
// against the real server in test/e2e (signaling_client_test.go,
// client_rest_test.go), never here.
type scriptedPeer struct {
	t      *testing.T
	srv    *httptest.Server
	conns  atomic.Int32
	pings  atomic.Int32
	script func(h *scriptedPeer, n int, w http.ResponseWriter, r *http.Request)
}

func newScriptedPeer(t *testing.T, script func(h *scriptedPeer, n int, w http.ResponseWriter, r *http.Request)) *scriptedPeer {
	t.Helper()
	h := &scriptedPeer{t: t, script: script}
	h.srv = quietTLSServer(h)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *scriptedPeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := testVerifier().VerifyPresigned(r); err != nil {
		h.t.Errorf("presigned URL refused: %v", err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	h.script(h, int(h.conns.Add(1)), w, r)
}

// accept upgrades and counts the client's pings.
func (h *scriptedPeer) accept(w http.ResponseWriter, r *http.Request) *websocket.Conn {
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

func (h *scriptedPeer) config(role, clientID string) SignalingConfig {
	return SignalingConfig{
		Endpoint:   strings.Replace(h.srv.URL, "https://", "wss://", 1),
		ChannelARN: testARN, Role: role, ClientID: clientID, Region: "us-west-2", Credentials: testCreds,
		TLSConfig:        h.srv.Client().Transport.(*http.Transport).TLSClientConfig,
		ReconnectBackoff: 10 * time.Millisecond,
	}
}

func dialScripted(t *testing.T, cfg SignalingConfig) *SignalingClient {
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
	h := newScriptedPeer(t, func(h *scriptedPeer, _ int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		_ = ws.Write(context.Background(), websocket.MessageText, []byte(`{"message":"Endpoint request timed out"}`))
		_ = ws.Write(context.Background(), websocket.MessageText, []byte(`{"messageType":"RECONNECT_ICE_SERVER"}`))
		drain(ws)
	})
	c := connectReconnectingMaster(t, h)
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

func TestSignalingReconnectsAfterDrop(t *testing.T) {
	h := newScriptedPeer(t, func(h *scriptedPeer, n int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		if n == 1 {
			_ = ws.CloseNow() // network failure: no close frame
			return
		}
		drain(ws)
	})
	c := connectReconnectingMaster(t, h)
	wantState(t, next(t, c), StateReconnecting)
	wantState(t, next(t, c), StateConnected)
	if err := c.SendICECandidate(context.Background(), "viewer-1", ICECandidate{Candidate: "candidate:1 1 udp 1 192.0.2.1 9 typ host"}); err != nil {
		t.Fatalf("send after reconnect: %v", err)
	}
}

func TestSignalingGoAwayWithoutCloseReconnectsAfterGrace(t *testing.T) {
	h := newScriptedPeer(t, func(h *scriptedPeer, n int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		if n == 1 {
			_ = ws.Write(context.Background(), websocket.MessageText, []byte(`{"messageType":"GO_AWAY"}`))
		}
		drain(ws)
	})
	c := connectReconnectingMaster(t, h)
	if ev := next(t, c); ev.MessageType != kvsapi.MessageGoAway {
		t.Fatalf("got %+v, want GO_AWAY", ev)
	}
	wantState(t, next(t, c), StateReconnecting)
	wantState(t, next(t, c), StateConnected)
}

func TestSignalingKeepalive(t *testing.T) {
	h := newScriptedPeer(t, func(h *scriptedPeer, n int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		if n == 1 {
			drain(ws) // answers pings
			return
		}
		time.Sleep(3 * time.Second) // reads nothing, so pings go unanswered
		_ = ws.CloseNow()
	})
	cfg := h.config(kvsapi.RoleMaster, "")
	// The interval is also how long a ping waits for its pong (there is no
	// separate setting): long enough for a loaded machine running -race to
	// answer in time, short enough that the unanswered ping on the second
	// connection fails well before the peer closes it.
	cfg.KeepaliveInterval = 200 * time.Millisecond
	c := dialScripted(t, cfg)
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
	c = dialScripted(t, cfg)
	wantState(t, next(t, c), StateConnected)
	ev := next(t, c)
	wantState(t, ev, StateReconnecting)
	if !strings.Contains(ev.Err.Error(), "keepalive") {
		t.Fatalf("reconnecting because %v, want a keepalive failure", ev.Err)
	}
}

// TestDialSignalingClosedPort: nothing listening is reported as
// unreachable, without the presigned query in the message. Refusals and
// an untrusted certificate are tested against the real server in
// test/e2e (TestSignalingClientDialErrors).
func TestDialSignalingClosedPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := SignalingConfig{Endpoint: "wss://" + addr, ChannelARN: testARN, Role: kvsapi.RoleMaster,
		Region: "us-west-2", Credentials: testCreds}
	_, err = DialSignaling(context.Background(), cfg)
	if !errors.Is(err, ErrUnreachable) || strings.Contains(err.Error(), "X-Amz-") {
		t.Fatalf("closed port: %v", err)
	}
}

func TestSendValidation(t *testing.T) {
	h := newScriptedPeer(t, func(h *scriptedPeer, _ int, w http.ResponseWriter, r *http.Request) { drain(h.accept(w, r)) })
	c := dialScripted(t, h.config(kvsapi.RoleMaster, ""))
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
	h := newScriptedPeer(t, func(h *scriptedPeer, n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			_ = h.accept(w, r).CloseNow()
			return
		}
		refuse(w, http.StatusServiceUnavailable, "ServiceUnavailableException", "shutting down")
	})
	cfg := h.config(kvsapi.RoleMaster, "")
	cfg.Reconnect, cfg.ReconnectBackoff = true, 200*time.Millisecond
	c := dialScripted(t, cfg)
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
	h := newScriptedPeer(t, func(h *scriptedPeer, _ int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		<-release // reads nothing: no pong, no close reply
		_ = ws.CloseNow()
	})
	defer close(release)
	cfg := h.config(kvsapi.RoleViewer, "viewer-1")
	cfg.KeepaliveInterval = -1
	c := dialScripted(t, cfg)
	wantState(t, next(t, c), StateConnected)
	start := time.Now()
	_ = c.Close()
	if d := time.Since(start); d > closeTimeout+time.Second {
		t.Fatalf("Close took %s", d)
	}
}

// TestSignalingGoAwayKeepsMessagesDeliveredBeforeTheClose: after GO_AWAY
// the server goes on delivering until it closes (spec 6.5.3: the client
// should finish processing, then disconnect). Messages the server sent
// before it saw the client's close frame were delivered as far as the
// server knows, so the client must hand them on, not drop them.
func TestSignalingGoAwayKeepsMessagesDeliveredBeforeTheClose(t *testing.T) {
	h := newScriptedPeer(t, func(h *scriptedPeer, n int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		if ws == nil {
			return
		}
		if n == 1 {
			ctx := context.Background()
			_ = ws.Write(ctx, websocket.MessageText, []byte(`{"messageType":"GO_AWAY"}`))
			// The client closes goAwayGrace after GO_AWAY; these frames
			// cross its close frame, as deliveries do on a real network.
			time.Sleep(goAwayGrace + 300*time.Millisecond)
			for i := range 3 {
				frame := fmt.Sprintf(`{"senderClientId":"viewer-1","messageType":"ICE_CANDIDATE","messagePayload":"c%d"}`, i)
				_ = ws.Write(ctx, websocket.MessageText, []byte(frame))
			}
		}
		drain(ws)
	})
	c := connectReconnectingMaster(t, h)
	if ev := next(t, c); ev.MessageType != kvsapi.MessageGoAway {
		t.Fatalf("got %+v, want GO_AWAY", ev)
	}
	var got []string
	for {
		ev := next(t, c)
		if ev.IsStateChange() {
			wantState(t, ev, StateReconnecting)
			break
		}
		got = append(got, ev.MessagePayload)
	}
	if len(got) != 3 {
		t.Fatalf("received %v of the 3 candidates the server delivered before it closed; the rest were dropped", got)
	}
}

// connectReconnectingMaster connects a master that reconnects to h and
// waits for its StateConnected event.
func connectReconnectingMaster(t *testing.T, h *scriptedPeer) *SignalingClient {
	t.Helper()
	cfg := h.config(kvsapi.RoleMaster, "")
	cfg.Reconnect = true
	c := dialScripted(t, cfg)
	wantState(t, next(t, c), StateConnected)
	return c
}

// TestSignalingCloseDuringGoAwayHandOver: Close lands while the
// connection opened after GO_AWAY waits to take over. That connection
// must be closed, and its socket forgotten: the client keeps each dialled
// socket until a session takes it, and no session will take this one.
func TestSignalingCloseDuringGoAwayHandOver(t *testing.T) {
	successorUp := make(chan struct{})
	successorDown := make(chan struct{})
	h := newScriptedPeer(t, func(h *scriptedPeer, n int, w http.ResponseWriter, r *http.Request) {
		ws := h.accept(w, r)
		if ws == nil {
			return
		}
		switch n {
		case 1:
			_ = ws.Write(context.Background(), websocket.MessageText, []byte(`{"messageType":"GO_AWAY"}`))
			drain(ws) // and never closes it: the client waits for that
		case 2:
			close(successorUp)
			drain(ws)
			close(successorDown)
		default:
			drain(ws)
		}
	})
	c := connectReconnectingMaster(t, h)
	if ev := next(t, c); ev.MessageType != kvsapi.MessageGoAway {
		t.Fatalf("got %+v, want GO_AWAY", ev)
	}
	select {
	case <-successorUp:
	case <-time.After(goAwayGrace + 5*time.Second):
		t.Fatal("no connection was opened after GO_AWAY")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-successorDown:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection opened after GO_AWAY is still open after Close")
	}
	kept := 0
	c.sockets.Range(func(any, any) bool { kept++; return true })
	if kept != 0 {
		t.Fatalf("the client still holds %d socket(s) after Close", kept)
	}
	if n := h.conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}
