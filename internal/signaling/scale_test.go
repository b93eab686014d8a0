package signaling

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// TestThousandViewers: 1,000 viewers on one channel each complete an
// offer/answer exchange with one master.
func TestThousandViewers(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 connections")
	}
	const n = 1000
	e := newEnv(t, func(c *Config) {
		c.MaxViewersPerChannel = n
		// One master answering 1,000 viewers at once needs more than the
		// AWS per-connection rate and a deeper send queue.
		c.SDPAnswersPerSecond, c.SDPAnswerBurst = 1e6, 1e6
		c.SendQueueLength = 2 * n
	})
	master := e.dial("")
	viewers := make([]*client, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range viewers {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := e.tryDial(e.url(testARN, fmt.Sprintf("viewer-%04d", i)), nil, true)
			if err != nil {
				errs <- err
				return
			}
			viewers[i] = c
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("dial: %v", err)
	}
	if _, count := e.hub.Presence(testAccount, testARN); count != n {
		t.Fatalf("Presence viewers = %d, want %d", count, n)
	}

	// Each viewer sends an offer whose payload names it; the master
	// answers each sender with a payload naming the sender back.
	for i, v := range viewers {
		payload := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "offer from viewer-%04d", i))
		go v.ws.Write(context.Background(), websocket.MessageText, []byte(jsMsg(kvsapi.ActionSDPOffer, payload, "", "")))
	}
	for range n {
		var ev kvsapi.Event
		if err := json.Unmarshal([]byte(master.next()), &ev); err != nil {
			t.Fatal(err)
		}
		got, _ := base64.StdEncoding.DecodeString(ev.MessagePayload)
		if want := "offer from " + ev.SenderClientID; string(got) != want || ev.MessageType != kvsapi.ActionSDPOffer {
			t.Fatalf("master got %+v (%q), want an offer from its sender", ev, got)
		}
		answer := base64.StdEncoding.EncodeToString([]byte("answer for " + ev.SenderClientID))
		master.send(jsMsg(kvsapi.ActionSDPAnswer, answer, ev.SenderClientID, ""))
	}
	for i, v := range viewers {
		want := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "answer for viewer-%04d", i))
		v.expect(toViewer(kvsapi.ActionSDPAnswer, want))
	}
	// The master's reader counts an answer after the bus delivered it, so
	// the last count may come after its viewer has read it.
	waitFor(t, fmt.Sprintf("%d answers counted as delivered", n), func() bool {
		return e.metric("messages_relayed_total", "type", kvsapi.ActionSDPAnswer, "outcome", "delivered") == n
	})
}

// TestNoGoroutineLeak: 500 connect/disconnect cycles, closed from either
// side, leave no goroutine behind.
func TestNoGoroutineLeak(t *testing.T) {
	e := newEnv(t, nil)
	e.dial("") // a steady master receiving the viewers' messages
	waitFor(t, "steady state", func() bool { return e.hub.connectionCount() == 1 })
	before := runtime.NumGoroutine()
	for i := range 500 {
		c, err := e.tryDial(e.url(testARN, fmt.Sprintf("v%d", i%7)), nil, true)
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		switch i % 3 {
		case 0:
			c.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
			_ = c.ws.Close(websocket.StatusNormalClosure, "done")
		case 1:
			_ = c.ws.CloseNow()
		default:
			_ = c.ws.Close(websocket.StatusNormalClosure, "done")
		}
		<-c.done
		// The next cycles reuse client ids: wait until the server has let go
		// of this one, or a reuse would count as a takeover.
		waitFor(t, "connection released", func() bool { return e.hub.connectionCount() == 1 })
	}
	waitFor(t, "connections closed", func() bool { return e.hub.connectionCount() == 1 })
	deadline := time.Now().Add(10 * time.Second)
	for {
		now := runtime.NumGoroutine()
		if now <= before+2 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after 500 cycles\n%s", before, now, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.metric("connects_total", "role", "VIEWER"); got != 500 {
		t.Fatalf("viewer connects = %v, want 500", got)
	}
	// No watch outlives its connection in the poller: only the master's
	// remains.
	if e.hub.poller != nil {
		waitFor(t, "only the master parked", func() bool { return e.hub.poller.Len() == 1 })
	}
}

// BenchmarkRelay measures viewer-to-master relaying over loopback WebSockets
// (client and server in one process): go test -bench Relay -run x.
func BenchmarkRelay(b *testing.B) {
	e := newEnv(b, func(c *Config) {
		c.ICECandidatesPerSecond, c.ICECandidateBurst = 1e9, 1e9
		c.SendQueueLength = 1 << 20
	})
	master, err := e.tryDial(e.url(testARN, ""), nil, true)
	if err != nil {
		b.Fatal(err)
	}
	viewer, err := e.tryDial(e.url(testARN, "v1"), nil, false)
	if err != nil {
		b.Fatal(err)
	}
	frame := []byte(jsMsg(kvsapi.ActionICECandidate, candPayload, "", ""))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for range b.N {
			if err := viewer.ws.Write(context.Background(), websocket.MessageText, frame); err != nil {
				return
			}
		}
	}()
	for range b.N {
		select {
		case <-master.frames:
		case <-time.After(10 * time.Second):
			b.Fatal("relay stalled")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
