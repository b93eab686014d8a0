package signaling

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	rtmetrics "runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

const goAway = `{"messageType":"GO_AWAY"}`

// TestMasterTakeover: the newest master wins; the displaced one gets GO_AWAY
// and a close naming the reason, and cannot win the identity back while the
// new holder is live (hold-down), which stops eviction ping-pong.
func TestMasterTakeover(t *testing.T) {
	e := newEnv(t, nil)
	first := e.dial("")
	second := e.dial("")
	first.expect(goAway)
	first.expectClosed(websocket.StatusNormalClosure, causeReplaced.reason)

	// The first client reconnects at once, as the C SDK does.
	_, err := e.tryDial(e.url(testARN, ""), nil, true)
	if err == nil || !strings.Contains(err.Error(), "status 400") || !strings.Contains(err.Error(), "ClientLimitExceededException") {
		t.Fatalf("takeover within hold-down: %v, want 400 ClientLimitExceededException", err)
	}
	if got := e.metric("refusals_total", "reason", "takeover_hold_down"); got != 1 {
		t.Fatalf("hold-down refusals = %v, want 1", got)
	}
	// The second master still holds the channel.
	viewer := e.dial("v1")
	viewer.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
	second.expect(toMaster("v1", kvsapi.ActionSDPOffer, offerPayload))

	// Once the holder has gone, connecting is always allowed.
	_ = second.ws.Close(websocket.StatusNormalClosure, "bye")
	waitFor(t, "master gone", func() bool { m, _ := e.hub.Presence(testAccount, testARN); return !m })
	third := e.dial("")
	viewer.send(jsMsg(kvsapi.ActionICECandidate, candPayload, "", ""))
	third.expect(toMaster("v1", kvsapi.ActionICECandidate, candPayload))
	// The displaced connection is counted when its reader ends, which can
	// come after the client has seen the close frame.
	waitFor(t, "one replaced disconnect", func() bool { return e.metric("disconnects_total", "reason", "replaced") == 1 })
}

// TestViewerTakeover: a viewer reconnecting with its client id replaces the
// old connection; answers go to the new one. Without hold-down, takeovers
// are always allowed.
func TestViewerTakeover(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.TakeoverHoldDown = 0 })
	master := e.dial("")
	old := e.dial("v1")
	current := e.dial("v1")
	old.expect(goAway)
	old.expectClosed(websocket.StatusNormalClosure, causeReplaced.reason)
	master.send(jsMsg(kvsapi.ActionSDPAnswer, answerPayload, "v1", ""))
	current.expect(toViewer(kvsapi.ActionSDPAnswer, answerPayload))
	again := e.dial("v1") // no hold-down configured
	current.expect(goAway)
	master.send(jsMsg(kvsapi.ActionICECandidate, candPayload, "v1", ""))
	again.expect(toViewer(kvsapi.ActionICECandidate, candPayload))
	if _, n := e.hub.Presence(testAccount, testARN); n != 1 {
		t.Fatalf("viewers after takeovers = %d, want 1", n)
	}
}

// TestViewerLimit: the 11th viewer is refused by default and accepted when
// the limit is raised; reconnecting with a held id does not count.
func TestViewerLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  int
		accept bool
	}{
		{"default 10 refuses the 11th", DefaultConfig().MaxViewersPerChannel, false},
		{"raised to 11 accepts it", 11, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.MaxViewersPerChannel = tc.limit; c.TakeoverHoldDown = 0 })
			for i := range 10 {
				e.dial("viewer-" + string(rune('a'+i)))
			}
			e.dial("viewer-a") // takeover, not an 11th viewer
			_, err := e.tryDial(e.url(testARN, "viewer-k"), nil, true)
			if tc.accept {
				if err != nil {
					t.Fatalf("11th viewer with limit %d: %v", tc.limit, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "status 400") || !strings.Contains(err.Error(), "ClientLimitExceededException") {
				t.Fatalf("11th viewer: %v, want 400 ClientLimitExceededException", err)
			}
			if got := e.metric("refusals_total", "reason", "viewer_limit"); got != 1 {
				t.Fatalf("viewer_limit refusals = %v", got)
			}
			e.dial("") // masters do not count
		})
	}
}

// TestCloseChannel: deleting a channel sends GO_AWAY to everyone on it and
// closes them; other channels are untouched; reconnecting is refused.
func TestCloseChannel(t *testing.T) {
	e := newEnv(t, nil)
	conns := []*client{e.dial(""), e.dial("v1"), e.dial("v2")}
	otherMaster, err := e.tryDial(e.url(otherARN, ""), nil, true)
	if err != nil {
		t.Fatal(err)
	}
	e.dir.remove(testAccount, testARN)
	e.hub.CloseChannel(testAccount, testARN)
	for _, c := range conns {
		c.expect(goAway)
		c.expectClosed(websocket.StatusGoingAway, causeChannelDeleted.reason)
	}
	resp, body := refusalResponse(t, e.url(testARN, "v1"), nil)
	if resp.StatusCode != http.StatusNotFound || body.Type != kvsapi.CodeResourceNotFound.Name {
		t.Fatalf("reconnect to a deleted channel: %d %+v", resp.StatusCode, body)
	}
	v, err := e.tryDial(e.url(otherARN, "v1"), nil, true)
	if err != nil {
		t.Fatal(err)
	}
	v.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
	otherMaster.expect(toMaster("v1", kvsapi.ActionSDPOffer, offerPayload))
}

// TestShutdown: GO_AWAY to every connection, a drain period, then 1001;
// new connections are refused with 503.
func TestShutdown(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ShutdownDrain = Duration(300 * time.Millisecond) })
	stubborn := []*client{e.dial(""), e.dial("v1"), e.dial("v2")}
	polite := e.dial("v3")
	done := make(chan error, 1)
	go func() { done <- e.hub.Shutdown(context.Background()) }()
	polite.expect(goAway)
	_ = polite.ws.Close(websocket.StatusNormalClosure, "going")
	for _, c := range stubborn {
		c.expect(goAway)
		c.expectClosed(websocket.StatusGoingAway, causeShutdown.reason)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if n := e.hub.connectionCount(); n != 0 {
		t.Fatalf("%d connections left after Shutdown", n)
	}
	resp, body := refusalResponse(t, e.url(testARN, "v9"), nil)
	if resp.StatusCode != http.StatusServiceUnavailable || body.Type != kvsapi.CodeServiceUnavailable.Name {
		t.Fatalf("connect after Shutdown: %d %+v", resp.StatusCode, body)
	}
}

// TestShutdownContextEnds: when ctx ends before the drain, connections are
// dropped and Shutdown returns ctx's error.
func TestShutdownContextEnds(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ShutdownDrain = Duration(time.Hour) })
	c := e.dial("")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.hub.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	c.expect(goAway)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("connection not dropped")
	}
	waitFor(t, "connections gone", func() bool { return e.hub.connectionCount() == 0 })
}

// TestIdleTimeout: a silent client is closed; one that pings is not.
func TestIdleTimeout(t *testing.T) {
	// The pinger pings every 50 ms: only a stall of most of a second
	// could make it look idle.
	const idle = time.Second
	e := newEnv(t, func(c *Config) { c.IdleTimeout = Duration(idle); c.PingInterval = 0 })
	pingerSince := time.Now()
	pinger := e.dial("pinger")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = pinger.ws.Ping(ctx)
				cancel()
			}
		}
	}()
	// Measured from before the dial: the server's idle clock starts
	// during it, so the close can come no earlier than idle after this.
	start := time.Now()
	silent := e.dial("silent")
	silent.expectClosed(websocket.StatusNormalClosure, causeIdle.reason)
	if d := time.Since(start); d < idle {
		t.Fatalf("closed after %v, before the idle timeout of %v", d, idle)
	}
	// The pinging client lives on past twice the timeout.
	time.Sleep(2*idle - time.Since(pingerSince))
	select {
	case <-pinger.done:
		t.Fatalf("the pinging client was closed: %v", pinger.err)
	default:
	}
	master := e.dial("")
	pinger.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
	master.expect(toMaster("pinger", kvsapi.ActionSDPOffer, offerPayload))
}

// TestMaxConnectionDuration: GO_AWAY at duration-grace, close at duration.
func TestMaxConnectionDuration(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.MaxConnectionDuration = Duration(600 * time.Millisecond)
		c.GoAwayGrace = Duration(400 * time.Millisecond)
	})
	start := time.Now()
	c := e.dial("")
	c.expect(goAway)
	goAwayAt := time.Since(start)
	c.expectClosed(websocket.StatusGoingAway, causeMaxDuration.reason)
	closedAt := time.Since(start)
	if goAwayAt < 150*time.Millisecond || closedAt < 550*time.Millisecond {
		t.Fatalf("GO_AWAY at %v and close at %v, want about 200 ms and 600 ms", goAwayAt, closedAt)
	}
}

// TestPingTimeout: a peer that never answers pings is dropped; one that
// answers is not.
func TestPingTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.PingInterval = Duration(50 * time.Millisecond)
		// Long enough that the live client's reader, even held up on a
		// loaded machine, answers in time.
		c.PongTimeout = Duration(2 * time.Second)
	})
	// A client that never reads never answers pings.
	if _, err := e.tryDial(e.url(testARN, "deaf"), nil, false); err != nil {
		t.Fatal(err)
	}
	alive := e.dial("alive")
	waitFor(t, "the deaf client dropped", func() bool {
		return e.metric("disconnects_total", "reason", "ping_timeout") >= 1 && !e.hasConn("deaf")
	})
	time.Sleep(200 * time.Millisecond) // more ping rounds for the live client
	master := e.dial("")
	alive.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
	master.expect(toMaster("alive", kvsapi.ActionSDPOffer, offerPayload))
	// The live client still relays, so the one drop was the deaf one's.
	for _, m := range []string{"disconnects_total", "dropped_connections_total"} {
		if got := e.metric(m, "reason", "ping_timeout"); got != 1 {
			t.Fatalf("%s{ping_timeout} = %v, want 1", m, got)
		}
	}
}

// TestSlowReaderDropped: a viewer that does not read is dropped when its
// send queue overflows, without delaying the master or another viewer (a
// master is never paced behind a viewer: pacing.go).
func TestSlowReaderDropped(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.SendQueueLength = 4
		c.WriteTimeout = Duration(time.Second)
		c.ICECandidatesPerSecond = 1e6
		c.ICECandidateBurst = 1e6
	})
	master := e.dial("")
	if _, err := e.tryDial(e.url(testARN, "slow"), nil, false); err != nil {
		t.Fatal(err)
	}
	fast := e.dial("fast")
	big := strings.Repeat("QUJD", 2400)
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; e.metric("dropped_connections_total", "reason", "send_queue_full") == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatal("slow reader never dropped")
		}
		master.send(jsMsg(kvsapi.ActionICECandidate, big, "slow", ""))
		if i%50 == 0 {
			master.send(jsMsg(kvsapi.ActionICECandidate, "ZmFzdA==", "fast", ""))
			fast.expect(toViewer(kvsapi.ActionICECandidate, "ZmFzdA=="))
		}
	}
	waitFor(t, "slow reader closed", func() bool { return e.metric("disconnects_total", "reason", "send_queue_full") == 1 })
	master.send(jsMsg(kvsapi.ActionICECandidate, "ZmFzdA==", "fast", ""))
	fast.expect(toViewer(kvsapi.ActionICECandidate, "ZmFzdA=="))
	for _, result := range []string{"drained", "gave_up"} {
		if got := e.metric("paced_senders_total", "result", result); got != 0 {
			t.Errorf("the master was paced behind the slow viewer (%s: %v)", result, got)
		}
	}
}

// TestBriefStallIsPaced: a master that stops reading for a moment while a
// viewer sends a burst is not dropped as a slow reader. Once its queue is
// half full the viewer's reader waits for it, so the viewer is slowed
// down by TCP instead, and the master gets every message, in order, when
// it reads again. Without pacing the queue of 8 overflows at once.
func TestBriefStallIsPaced(t *testing.T) {
	// A pace limit far above the stall, so that a slow test machine
	// cannot turn the wait into a give-up.
	e := startEnv(t, func(c *Config) {
		relaxedRates(c)
		c.SendQueueLength = 8
		c.PingInterval = 0
	}, envOptions{parkable: true, paceLimit: 10 * time.Second})
	master, err := e.tryDial(e.url(testARN, ""), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	viewer := e.dial("v1")
	stall := time.AfterFunc(300*time.Millisecond, func() { go master.readLoop() })
	defer stall.Stop()

	// 600 frames of 9.6 KB: more than loopback's socket buffers hold.
	const n = 600
	big := strings.Repeat("QUJD", 2400)
	for i := range n {
		viewer.send(jsMsg(kvsapi.ActionICECandidate, fmt.Sprintf("%04d", i)+big, "", ""))
	}
	for i := range n {
		master.expect(toMaster("v1", kvsapi.ActionICECandidate, fmt.Sprintf("%04d", i)+big))
	}
	if got := e.metric("dropped_connections_total", "reason", "send_queue_full"); got != 0 {
		t.Fatalf("%v connections dropped as slow readers, want none", got)
	}
	if got := e.metric("paced_senders_total", "result", "drained"); got == 0 {
		t.Fatal("the viewer was never paced: the burst did not reach the master's high-water mark")
	}
}

// TestProtocolAbuseCloses: binary frames close with 1003, frames over the
// read limit with 1009; other connections are unaffected.
func TestProtocolAbuseCloses(t *testing.T) {
	e := newEnv(t, nil)
	master := e.dial("")
	binary := e.dial("bin")
	if err := binary.ws.Write(context.Background(), websocket.MessageBinary, []byte(`{"action":"SDP_OFFER"}`)); err != nil {
		t.Fatal(err)
	}
	binary.expectClosed(websocket.StatusUnsupportedData, causeBinary.reason)

	huge := e.dial("huge")
	_ = huge.ws.Write(context.Background(), websocket.MessageText, []byte(strings.Repeat(" ", int(DefaultConfig().ReadLimit)+1)))
	select {
	case <-huge.done:
	case <-time.After(10 * time.Second):
		t.Fatal("oversized frame did not close the connection")
	}
	if websocket.CloseStatus(huge.err) != websocket.StatusMessageTooBig {
		t.Fatalf("close after an oversized frame: %v, want 1009", huge.err)
	}
	ok := e.dial("ok")
	ok.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
	master.expect(toMaster("ok", kvsapi.ActionSDPOffer, offerPayload))
	waitFor(t, "disconnect metrics", func() bool {
		return e.metric("disconnects_total", "reason", "read_limit") == 1 && e.metric("disconnects_total", "reason", "binary_frame") == 1
	})
}

// goroutinesCreated is how many goroutines the process has started so far
// (a timer's callback runs on a goroutine of its own).
func goroutinesCreated() uint64 {
	s := []rtmetrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

// TestClosingConnectionPastMaxDurationStaysQuiet: a connection whose close
// was asked for (here: it was taken over) while its writer is stuck on a
// client that does not read must not busy-loop its timer once its maximum
// duration has passed. The closing clock re-arms itself for expireAt,
// which is then in the past, so the timer fires again at once, over and
// over, until the stuck write gives up (write_timeout, per write). The
// maximum duration is a hard limit: the connection is dropped then.
func TestClosingConnectionPastMaxDurationStaysQuiet(t *testing.T) {
	e, _ := stuckMasterEnv(t, func(c *Config) {
		c.MaxConnectionDuration = Duration(8 * time.Second)
		c.GoAwayGrace = Duration(time.Second)
		c.WriteTimeout = Duration(30 * time.Second)
	})
	old := e.connOf("")
	e.dial("") // takeover: the old master's close waits behind its stuck writer
	old.mu.Lock()
	expireAt, closing := old.clocks.expireAt, old.closing
	old.mu.Unlock()
	if closing == nil || *closing != causeReplaced || expireAt.reached(monoNow()) {
		t.Fatalf("setup: the old master must be closing as replaced before its maximum duration (closing %v)", closing)
	}
	time.Sleep(until(expireAt) + 200*time.Millisecond)
	before := goroutinesCreated()
	time.Sleep(time.Second)
	created := goroutinesCreated() - before
	if created > 1000 {
		t.Fatalf("%d goroutines started in one second while a closing connection waited for its stuck writer: its timer spins", created)
	}
	waitFor(t, "the closing connection to be dropped at its maximum duration", func() bool {
		old.mu.Lock()
		defer old.mu.Unlock()
		return old.finished
	})
}
