package signaling

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/internal/bus"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// TestTakeoverBetweenActivationAndServe: a master that took its mailbox
// (activation) and is displaced before its connection is served must not
// write that mailbox to its own, replaced, client: the messages belong to
// the address's newer holder, which must receive them. The takeover is
// landed in that window with the afterActivate hook.
func TestTakeoverBetweenActivationAndServe(t *testing.T) {
	activated := make(chan *conn, 1)
	release := make(chan struct{})
	t.Cleanup(func() { afterActivate = nil }) // runs after the env's cleanup
	first := true
	afterActivate = func(c *conn) {
		if c.addr.ClientID != "" || !first { // only the first master waits
			return
		}
		first = false
		activated <- c
		<-release
	}
	e := newEnv(t, func(c *Config) { c.PingInterval = 0 })

	// The viewer's offer waits in the master's mailbox.
	viewer := e.dial("v1")
	viewer.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
	waitFor(t, "the offer queued", func() bool { return e.bus.Stats().MailboxMessages == 1 })

	old := e.dial("")
	select {
	case <-activated: // the old master holds the offer, and is not served yet
	case <-time.After(10 * time.Second):
		t.Fatal("the first master was never activated")
	}
	fresh := e.dial("") // takeover: its handshake has displaced the old master
	close(release)

	old.expect(goAway) // and nothing before it: the offer is not the old master's
	fresh.expect(toMaster("v1", kvsapi.ActionSDPOffer, offerPayload))
	old.expectClosed(websocket.StatusNormalClosure, causeReplaced.reason)
}

// gatedRequeueBus is the hub's real bus with a gate on Requeue, the call
// that hands a displaced connection's unwritten mail back: once armed,
// Requeue waits for the gate to open (or for its context), as a bus
// across the network may when it is slow.
type gatedRequeueBus struct {
	bus.Bus
	*callGate
	armed atomic.Bool
}

func (b *gatedRequeueBus) Requeue(ctx context.Context, addr bus.Address, envs []bus.Envelope) error {
	if b.armed.Load() {
		if err := b.pass(ctx); err != nil {
			return err
		}
	}
	return b.Bus.Requeue(ctx, addr, envs)
}

// callGate holds a bus call until the test opens it.
type callGate struct {
	entered chan struct{} // closed when a call starts waiting
	open    chan struct{} // closed by release to let calls through
	in, out sync.Once
}

func newCallGate() *callGate {
	return &callGate{entered: make(chan struct{}), open: make(chan struct{})}
}

// pass waits until the gate is open, or returns ctx's error.
func (g *callGate) pass(ctx context.Context) error {
	g.in.Do(func() { close(g.entered) })
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release opens the gate; it may be called more than once.
func (g *callGate) release() { g.out.Do(func() { close(g.open) }) }

// TestTakeoverDoesNotWaitForStuckHandBack: a newer master whose displaced
// predecessor does not hand its unwritten mail back (here the bus call
// that gives it back hangs) is served well within the 5 s a KVS C SDK
// client gives a connect (spec section 9 item 29): it reads its client
// and receives what is sent to it while the hand-back is still pending.
// When the hand-back comes through, the mail it carries reaches the newer
// master exactly once.
func TestTakeoverDoesNotWaitForStuckHandBack(t *testing.T) {
	gate := &gatedRequeueBus{callGate: newCallGate()}
	t.Cleanup(gate.release) // before the env's own cleanup, which shuts the hub down
	e, viewer := stuckMasterEnvWith(t, func(c *Config) {
		c.WriteTimeout = Duration(30 * time.Second) // only the drop unblocks the stuck writer
	}, envOptions{parkable: true, wrapBus: func(b bus.Bus) bus.Bus { gate.Bus = b; return gate }})

	const offer, cand, answer, last = "b2ZmZXI=", "Y2FuZA==", "YW5zd2Vy", "bGFzdA=="
	viewer.send(jsMsg(kvsapi.ActionSDPOffer, offer, "", ""))
	waitFor(t, "the offer queued at the stuck master", func() bool {
		q := e.queuedPayloads("")
		return len(q) > 0 && q[len(q)-1] == offer
	})

	gate.armed.Store(true)
	start := time.Now()
	fresh := e.dial("") // takeover
	select {
	case <-gate.entered: // the displaced master is handing back, and hangs there
	case <-time.After(10 * time.Second):
		t.Fatal("the displaced master never started to hand its mail back")
	}

	// The newer master is served: it receives what the viewer sends it
	// now, and its own messages are read and relayed.
	viewer.send(jsMsg(kvsapi.ActionICECandidate, cand, "", ""))
	for {
		frame := fresh.next()
		if frame == toMaster("v1", kvsapi.ActionICECandidate, cand) {
			break
		}
		t.Fatalf("the new master received, before anything handed back:\n %s\nwant the viewer's candidate", frame)
	}
	fresh.send(jsMsg(kvsapi.ActionSDPAnswer, answer, "v1", ""))
	viewer.expect(toViewer(kvsapi.ActionSDPAnswer, answer))
	if waited := time.Since(start); waited >= cSDKConnectTimeout {
		t.Fatalf("the new master was served %v after it connected; a C SDK client gives up after %v", waited, cSDKConnectTimeout)
	}
	if e.hub.handovers.pending() == 0 {
		t.Fatal("the hand-back is no longer pending: the test did not hold it")
	}

	// The hand-back comes through late: its mail still reaches the newer
	// master, once (after what came directly: the documented exception
	// to the order rule, handover.go).
	gate.release()
	offers := 0
	for offers == 0 {
		frame := fresh.next()
		switch {
		case frame == toMaster("v1", kvsapi.ActionSDPOffer, offer):
			offers++
		case !strings.Contains(frame, fillerPayload):
			t.Fatalf("unexpected frame at the new master: %s", frame)
		}
	}
	viewer.send(jsMsg(kvsapi.ActionICECandidate, last, "", ""))
	for {
		frame := fresh.next()
		if frame == toMaster("v1", kvsapi.ActionICECandidate, last) {
			break
		}
		if frame == toMaster("v1", kvsapi.ActionSDPOffer, offer) {
			t.Fatal("the handed-back offer reached the new master twice")
		}
		if !strings.Contains(frame, fillerPayload) {
			t.Fatalf("unexpected frame at the new master: %s", frame)
		}
	}
	waitFor(t, "no hand-back left pending", func() bool { return e.hub.handovers.pending() == 0 })
}

// cSDKConnectTimeout is how long the KVS C SDK waits for its signaling
// connection (spec section 9 item 29).
const cSDKConnectTimeout = 5 * time.Second
