package signaling

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// TestIdleConnectionsWaitParked: connections with nothing to read hold no
// goroutine (they wait in the poller), and a parked connection still
// receives messages, answers pings and sends.
func TestIdleConnectionsWaitParked(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PingInterval = 0 })
	if e.hub.poller == nil {
		t.Skip("no poller on this system")
	}
	master := e.dial("")
	viewers := make([]*client, 10) // the default limit per channel
	for i := range viewers {
		viewers[i] = e.dial("v" + string(rune('a'+i)))
	}
	allParked := func() bool { return e.metric("parked_connections") == float64(len(viewers)+1) }
	waitFor(t, "every idle connection parked", allParked)

	for i, v := range viewers {
		v.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
		master.expect(toMaster("v"+string(rune('a'+i)), kvsapi.ActionSDPOffer, offerPayload))
	}
	master.send(jsMsg(kvsapi.ActionSDPAnswer, answerPayload, "vc", ""))
	viewers[2].expect(toViewer(kvsapi.ActionSDPAnswer, answerPayload))
	waitFor(t, "parked again after the exchange", allParked)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := viewers[0].ws.Ping(ctx); err != nil {
		t.Fatalf("ping of a parked connection: %v", err)
	}
	waitFor(t, "parked again after the ping", allParked)
}

// TestFramesArriveInPiecesWhileParked: a frame that arrives a few bytes at
// a time is put together across parkings, control frames included.
func TestFramesArriveInPiecesWhileParked(t *testing.T) {
	e := newEnv(t, nil)
	master := e.dial("")
	raw, br := rawUpgrade(t, e, "trickle")

	offer := maskedFrame(ws.OpText, []byte(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", "")))
	ping := maskedFrame(ws.OpPing, []byte("are you there"))
	for _, frame := range [][]byte{offer, ping} {
		for i := 0; i < len(frame); i += 7 {
			if _, err := raw.Write(frame[i:min(i+7, len(frame))]); err != nil {
				t.Fatalf("write: %v", err)
			}
			time.Sleep(time.Millisecond) // separate reads, most of them parked in between
		}
	}
	master.expect(toMaster("trickle", kvsapi.ActionSDPOffer, offerPayload))
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := ws.ReadHeader(br)
	if err != nil || h.OpCode != ws.OpPong || h.Length != int64(len("are you there")) {
		t.Fatalf("answer to a trickled ping: %+v, %v", h, err)
	}
}

// TestCloseHandshakeBoundedWhileParked: a client that never answers the
// server's close frame is dropped once the write timeout has passed.
func TestCloseHandshakeBoundedWhileParked(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.IdleTimeout = Duration(200 * time.Millisecond)
		c.WriteTimeout = Duration(300 * time.Millisecond)
		c.PingInterval = 0
	})
	raw, br := rawUpgrade(t, e, "mute")
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := ws.ReadHeader(br)
	if err != nil || h.OpCode != ws.OpClose {
		t.Fatalf("expected the idle close frame: %+v, %v", h, err)
	}
	// Not answered: the server must drop the connection by itself.
	waitFor(t, "connection dropped", func() bool { return e.hub.connectionCount() == 0 })
	if got := e.metric("disconnects_total", "reason", "idle_timeout"); got != 1 {
		t.Fatalf("disconnects idle_timeout = %v", got)
	}
}

// TestBusyConnectionsLinger: a new connection is parked as soon as it is
// silent; once traffic wakes it less than parkAfter after it was parked
// (here an hour), its reader stays, waiting in Go's poller, and messages
// and pings flow as usual. The server's default is checked end to end by
// the bench smoke, where every idle connection ends up parked.
func TestBusyConnectionsLinger(t *testing.T) {
	e := newLingeringEnv(t, nil, time.Hour)
	master := e.dial("")
	viewer := e.dial("v1")
	for range 20 {
		viewer.send(jsMsg(kvsapi.ActionICECandidate, candPayload, "", ""))
		master.expect(toMaster("v1", kvsapi.ActionICECandidate, candPayload))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := master.ws.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if got := e.metric("parked_connections"); got != 0 {
		t.Fatalf("parked connections = %v while lingering", got)
	}
}

// TestRoutingWithoutPoller: on a listener whose sockets cannot be parked
// every connection keeps its reader, and the hub works the same.
func TestRoutingWithoutPoller(t *testing.T) {
	e := newBlockingEnv(t, nil)
	master := e.dial("")
	viewer := e.dial("v1")
	viewer.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
	master.expect(toMaster("v1", kvsapi.ActionSDPOffer, offerPayload))
	master.send(jsMsg(kvsapi.ActionSDPAnswer, answerPayload, "v1", ""))
	viewer.expect(toViewer(kvsapi.ActionSDPAnswer, answerPayload))
	if got := e.metric("parked_connections"); got != 0 {
		t.Fatalf("parked connections = %v on a plain listener", got)
	}
	_ = viewer.ws.Close(websocket.StatusNormalClosure, "bye")
	waitFor(t, "viewer gone", func() bool { return e.metric("disconnects_total", "reason", "client_closed") == 1 })
}

// rawUpgrade opens a viewer connection by hand, for tests that need to
// control every byte the client sends.
func rawUpgrade(t *testing.T, e *testEnv, clientID string) (net.Conn, *bufio.Reader) {
	t.Helper()
	req := upgradeRequest(t, e.url(testARN, clientID))
	raw, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	if err := req.Write(raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(raw)
	resp, err := http.ReadResponse(br, req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v", resp, err)
	}
	return raw, br
}

// maskedFrame is a whole client frame.
func maskedFrame(op ws.OpCode, payload []byte) []byte {
	f := ws.MaskFrameInPlaceWith(ws.NewFrame(op, true, payload), [4]byte{1, 2, 3, 4})
	return ws.MustCompileFrame(f)
}

// TestParkedTLSConnectionsKeepWorking: over TLS, as the server runs, a
// parked connection gives its empty TLS read buffers back (see
// internal/tlsidle) and reads on when it wakes: small and near-limit
// messages, both ways, over several parkings.
func TestParkedTLSConnectionsKeepWorking(t *testing.T) {
	e := newTLSEnv(t, func(c *Config) {
		c.PingInterval = 0
		c.SDPAnswerBurst = 100 // the master answers 12 offers in quick succession
	})
	if e.hub.poller == nil {
		t.Skip("no poller on this system")
	}
	master := e.dial("")
	ids := []string{"va", "vb", "vc"}
	viewers := make([]*client, len(ids))
	for i, id := range ids {
		viewers[i] = e.dial(id)
	}
	allParked := func() bool { return e.metric("parked_connections") == float64(len(ids)+1) }
	raw := make([]byte, 7000) // 9,336 base64 characters: several TLS records from the client
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	large := base64.StdEncoding.EncodeToString(raw)
	for round := range 4 {
		offer, answer := offerPayload, answerPayload
		if round%2 == 1 {
			offer, answer = large, large
		}
		waitFor(t, "every connection parked", allParked)
		for i, v := range viewers {
			v.send(jsMsg(kvsapi.ActionSDPOffer, offer, "", ""))
			master.expect(toMaster(ids[i], kvsapi.ActionSDPOffer, offer))
		}
		waitFor(t, "every connection parked after the offers", allParked)
		for i, v := range viewers {
			master.send(jsMsg(kvsapi.ActionSDPAnswer, answer, ids[i], ""))
			v.expect(toViewer(kvsapi.ActionSDPAnswer, answer))
		}
	}
}
