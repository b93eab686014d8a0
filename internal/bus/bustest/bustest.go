// Package bustest is the conformance suite of the bus contract. Every
// backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		bustest.Run(t, func(t *testing.T) bus.Bus { return memory.New(memory.Options{}) })
//	}
//
// The suite uses real time with short TTLs (a few hundred milliseconds), so
// it suits backends whose storage expires entries by itself. It owns no
// production code.
package bustest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/bus"
)

// Factory returns a fresh, empty bus. The suite closes it.
type Factory func(t *testing.T) bus.Bus

const (
	acct  = "111122223333"
	chanA = "arn:aws:kinesisvideo:us-west-2:111122223333:channel/a/1700000000000"
	chanB = "arn:aws:kinesisvideo:us-west-2:111122223333:channel/b/1700000000000"
	ttl   = time.Minute
)

var pubOpts = bus.PublishOptions{TTL: ttl}

// Run runs every conformance test against buses made by newBus.
func Run(t *testing.T, newBus Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, bus.Bus)
	}{
		{"DeliverToHolder", testDeliverToHolder},
		{"MailboxBeforeSubscribe", testMailboxBeforeSubscribe},
		{"MailboxExpiry", testMailboxExpiry},
		{"ZeroTTLDrops", testZeroTTLDrops},
		{"OfferAndAnswerReplacement", testReplacement},
		{"MailboxLimits", testMailboxLimits},
		{"RefusedDeliveryIsQueued", testRefusedDeliveryIsQueued},
		{"Takeover", testTakeover},
		{"HoldDown", testHoldDown},
		{"NoTakeover", testNoTakeover},
		{"ViewerLimit", testViewerLimit},
		{"Presence", testPresence},
		{"CloseChannel", testCloseChannel},
		{"Isolation", testIsolation},
		{"ConcurrentPublishersKeepOrder", testConcurrentOrder},
		{"DeferredQueuesUntilActivate", testDeferredQueuesUntilActivate},
		{"DeferredLeftKeepsMailbox", testDeferredLeftKeepsMailbox},
		{"DeferredDisplacedBeforeActivate", testDeferredDisplaced},
		{"RequeueGoesInFrontOfMailbox", testRequeueInFront},
		{"RequeueToNewHolder", testRequeueToNewHolder},
		{"RequeueToDeferredHolder", testRequeueToDeferred},
		{"RequeueKeepsRemainingTTL", testRequeueRemainingTTL},
		{"RequeueReplacement", testRequeueReplacement},
		{"RequeueClosedChannel", testRequeueClosedChannel},
		{"WithdrawFromMailbox", testWithdrawFromMailbox},
		{"WithdrawOrReceive", testWithdrawOrReceive},
		{"WithdrawClosedChannel", testWithdrawClosedChannel},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBus(t)
			t.Cleanup(func() { _ = b.Close() })
			tc.fn(t, b)
		})
	}
}

func env(typ, sender, payload string) bus.Envelope {
	return bus.Envelope{Type: typ, SenderClientID: sender, Payload: payload}
}

func mustSubscribe(t *testing.T, b bus.Bus, addr bus.Address, h bus.Handler, opts bus.SubscribeOptions) (bus.Subscription, []bus.Envelope) {
	t.Helper()
	sub, backlog, err := b.Subscribe(context.Background(), addr, h, opts)
	if err != nil {
		t.Fatalf("Subscribe(%+v): %v", addr, err)
	}
	return sub, backlog
}

func mustPublish(t *testing.T, b bus.Bus, to bus.Address, e bus.Envelope, opts bus.PublishOptions, want bus.Outcome) {
	t.Helper()
	got, err := b.Publish(context.Background(), to, e, opts)
	if err != nil {
		t.Fatalf("Publish(%+v): %v", to, err)
	}
	if got != want {
		t.Fatalf("Publish(%+v) outcome = %v, want %v", to, got, want)
	}
}

// sameEnvelopes compares what the envelopes say; Expires is the bus's
// stamp, which publishers leave zero.
func sameEnvelopes(t *testing.T, got, want []bus.Envelope) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d envelopes %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		g.Expires, w.Expires = time.Time{}, time.Time{}
		if g != w {
			t.Fatalf("envelope %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func testDeliverToHolder(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	var r Recorder
	sub, backlog := mustSubscribe(t, b, master, &r, bus.SubscribeOptions{})
	defer sub.Unsubscribe()
	if len(backlog) != 0 {
		t.Fatalf("backlog of a fresh address = %+v", backlog)
	}
	want := []bus.Envelope{env("SDP_OFFER", "v1", "b2ZmZXI="), env("ICE_CANDIDATE", "v1", "Y2FuZA==")}
	for _, e := range want {
		mustPublish(t, b, master, e, pubOpts, bus.Delivered)
	}
	sameEnvelopes(t, waitGot(t, &r, len(want)), want)
}

func testMailboxBeforeSubscribe(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	want := []bus.Envelope{
		env("SDP_OFFER", "v1", "b2ZmZXI="),
		env("ICE_CANDIDATE", "v1", "YzE="),
		env("ICE_CANDIDATE", "v1", "YzI="),
		env("ICE_CANDIDATE", "v2", "YzM="),
	}
	for _, e := range want {
		mustPublish(t, b, master, e, pubOpts, bus.Queued)
	}
	if s := b.Stats(); s.MailboxMessages != int64(len(want)) {
		t.Fatalf("Stats().MailboxMessages = %d, want %d", s.MailboxMessages, len(want))
	}
	var r Recorder
	sub, backlog := mustSubscribe(t, b, master, &r, bus.SubscribeOptions{})
	defer sub.Unsubscribe()
	sameEnvelopes(t, backlog, want)
	if s := b.Stats(); s.MailboxMessages != 0 || s.MailboxBytes != 0 {
		t.Fatalf("mailbox not emptied by Subscribe: %+v", s)
	}
	// Live messages follow the backlog and the backlog is not handed twice.
	live := env("ICE_CANDIDATE", "v1", "YzQ=")
	mustPublish(t, b, master, live, pubOpts, bus.Delivered)
	sameEnvelopes(t, waitGot(t, &r, 1), []bus.Envelope{live})
}

func testMailboxExpiry(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	short := bus.PublishOptions{TTL: 150 * time.Millisecond}
	before := b.Stats().Expired
	mustPublish(t, b, master, env("SDP_OFFER", "v1", "b2ZmZXI="), short, bus.Queued)
	mustPublish(t, b, master, env("ICE_CANDIDATE", "v1", "YzE="), short, bus.Queued)
	kept := env("ICE_CANDIDATE", "v2", "YzI=")
	mustPublish(t, b, master, kept, pubOpts, bus.Queued)
	waitFor(t, "expiry", func() bool {
		if err := b.Expire(context.Background()); err != nil {
			t.Fatalf("Expire: %v", err)
		}
		return b.Stats().Expired-before >= 2
	})
	if got := b.Stats().Expired - before; got != 2 {
		t.Fatalf("expired = %d, want 2", got)
	}
	var r Recorder
	sub, backlog := mustSubscribe(t, b, master, &r, bus.SubscribeOptions{})
	defer sub.Unsubscribe()
	sameEnvelopes(t, backlog, []bus.Envelope{kept})

	// Expired envelopes are never delivered even when Expire did not run.
	viewer := bus.ViewerOf(acct, chanA, "v9")
	mustPublish(t, b, viewer, env("SDP_ANSWER", "", "YW5z"), short, bus.Queued)
	time.Sleep(250 * time.Millisecond) // let the TTL pass; there is nothing to poll
	var r2 Recorder
	sub2, backlog2 := mustSubscribe(t, b, viewer, &r2, bus.SubscribeOptions{})
	defer sub2.Unsubscribe()
	if len(backlog2) != 0 {
		t.Fatalf("expired envelope delivered: %+v", backlog2)
	}
}

func testZeroTTLDrops(t *testing.T, b bus.Bus) {
	viewer := bus.ViewerOf(acct, chanA, "v1")
	mustPublish(t, b, viewer, env("SDP_ANSWER", "", "YW5z"), bus.PublishOptions{}, bus.Dropped)
	var r Recorder
	sub, backlog := mustSubscribe(t, b, viewer, &r, bus.SubscribeOptions{})
	defer sub.Unsubscribe()
	if len(backlog) != 0 {
		t.Fatalf("zero-TTL envelope was queued: %+v", backlog)
	}
}

func testReplacement(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	seq := []bus.Envelope{
		env("SDP_OFFER", "v1", "b2ZmZXIx"),
		env("ICE_CANDIDATE", "v1", "YzE="),
		env("SDP_OFFER", "v2", "b2ZmZXJ2Mg=="),
		env("SDP_OFFER", "v1", "b2ZmZXIy"), // replaces the first offer of v1
		env("ICE_CANDIDATE", "v1", "YzE="), // candidates are never replaced
		env("SDP_ANSWER", "v1", "YW5zMQ=="),
		env("SDP_ANSWER", "v1", "YW5zMg=="), // replaces the previous answer of v1
	}
	before := b.Stats().Replaced
	for _, e := range seq {
		mustPublish(t, b, master, e, pubOpts, bus.Queued)
	}
	if got := b.Stats().Replaced - before; got != 2 {
		t.Fatalf("Stats().Replaced grew by %d, want 2", got)
	}
	var r Recorder
	sub, backlog := mustSubscribe(t, b, master, &r, bus.SubscribeOptions{})
	defer sub.Unsubscribe()
	sameEnvelopes(t, backlog, []bus.Envelope{seq[1], seq[2], seq[3], seq[4], seq[6]})
}

func testMailboxLimits(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	viewer := bus.ViewerOf(acct, chanA, "v1")
	limits := bus.PublishOptions{TTL: ttl, MaxMailboxMessages: 3}
	mustPublish(t, b, master, env("ICE_CANDIDATE", "v1", "YzE="), limits, bus.Queued)
	mustPublish(t, b, master, env("ICE_CANDIDATE", "v1", "YzI="), limits, bus.Queued)
	mustPublish(t, b, viewer, env("ICE_CANDIDATE", "", "YzM="), limits, bus.Queued)
	_, err := b.Publish(context.Background(), viewer, env("ICE_CANDIDATE", "", "YzQ="), limits)
	if !errors.Is(err, bus.ErrMailboxFull) {
		t.Fatalf("4th message over a 3-message channel limit: err = %v, want ErrMailboxFull", err)
	}
	// A replacement does not grow the mailbox, so it fits.
	mustPublish(t, b, master, env("SDP_OFFER", "v1", "b2Zm"), bus.PublishOptions{TTL: ttl, MaxMailboxMessages: 4}, bus.Queued)
	mustPublish(t, b, master, env("SDP_OFFER", "v1", "b2Zm"), bus.PublishOptions{TTL: ttl, MaxMailboxMessages: 4}, bus.Queued)

	other := bus.MasterOf(acct, chanB)
	byBytes := bus.PublishOptions{TTL: ttl, MaxMailboxBytes: 64}
	big := env("ICE_CANDIDATE", "v1", string(make([]byte, 40)))
	mustPublish(t, b, other, big, byBytes, bus.Queued)
	if _, err := b.Publish(context.Background(), other, big, byBytes); !errors.Is(err, bus.ErrMailboxFull) {
		t.Fatalf("publish over the byte limit: err = %v, want ErrMailboxFull", err)
	}
}

func testRefusedDeliveryIsQueued(t *testing.T, b bus.Bus) {
	viewer := bus.ViewerOf(acct, chanA, "v1")
	var dying Recorder
	sub, _ := mustSubscribe(t, b, viewer, &dying, bus.SubscribeOptions{})
	dying.Refuse()
	e := env("SDP_ANSWER", "", "YW5z")
	mustPublish(t, b, viewer, e, pubOpts, bus.Queued)
	sub.Unsubscribe()
	var r Recorder
	sub2, backlog := mustSubscribe(t, b, viewer, &r, bus.SubscribeOptions{})
	defer sub2.Unsubscribe()
	sameEnvelopes(t, backlog, []bus.Envelope{e})
}

func testTakeover(t *testing.T, b bus.Bus) {
	for _, addr := range []bus.Address{bus.MasterOf(acct, chanA), bus.ViewerOf(acct, chanA, "v1")} {
		t.Run(addr.Role.String(), func(t *testing.T) {
			var first, second Recorder
			sub1, _ := mustSubscribe(t, b, addr, &first, bus.SubscribeOptions{})
			sub2, _ := mustSubscribe(t, b, addr, &second, bus.SubscribeOptions{})
			defer sub2.Unsubscribe()
			waitFor(t, "Displaced", func() bool { d, _ := first.Counts(); return d == 1 })
			if d, _ := second.Counts(); d != 0 {
				t.Fatalf("new holder was told it was displaced")
			}
			// The displaced subscription's Unsubscribe must not release
			// the address held by the newer one.
			sub1.Unsubscribe()
			e := env("ICE_CANDIDATE", "", "YzE=")
			mustPublish(t, b, addr, e, pubOpts, bus.Delivered)
			sameEnvelopes(t, waitGot(t, &second, 1), []bus.Envelope{e})
			if got := first.Got(); len(got) != 0 {
				t.Fatalf("displaced holder received %+v", got)
			}
		})
	}
}

func testHoldDown(t *testing.T, b bus.Bus) {
	addr := bus.MasterOf(acct, chanA)
	long := bus.SubscribeOptions{HoldDown: time.Hour}
	var a, bb, c Recorder
	subA, _ := mustSubscribe(t, b, addr, &a, long) // free address: allowed
	subB, _ := mustSubscribe(t, b, addr, &bb, long)
	defer subA.Unsubscribe()
	// A (displaced) comes back while B, which just took over, is live.
	if _, _, err := b.Subscribe(context.Background(), addr, &c, long); !errors.Is(err, bus.ErrHeldDown) {
		t.Fatalf("takeover within hold-down: err = %v, want ErrHeldDown", err)
	}
	if d, _ := bb.Counts(); d != 0 {
		t.Fatalf("refused takeover displaced the holder")
	}
	// Without protection configured the takeover is allowed.
	subC, _ := mustSubscribe(t, b, addr, &c, bus.SubscribeOptions{})
	waitFor(t, "Displaced", func() bool { d, _ := bb.Counts(); return d == 1 })
	subB.Unsubscribe()
	subC.Unsubscribe()

	// A holder that took a free address is never protected, and once the
	// protected holder is gone anyone may connect.
	var d1, d2, d3 Recorder
	s1, _ := mustSubscribe(t, b, addr, &d1, long)
	s2, _ := mustSubscribe(t, b, addr, &d2, long)
	s2.Unsubscribe()
	s3, _ := mustSubscribe(t, b, addr, &d3, long)
	s1.Unsubscribe()
	s3.Unsubscribe()

	// The protection ends after HoldDown.
	short := bus.SubscribeOptions{HoldDown: 100 * time.Millisecond}
	var e1, e2, e3 Recorder
	t1, _ := mustSubscribe(t, b, addr, &e1, short)
	t2, _ := mustSubscribe(t, b, addr, &e2, short)
	defer t1.Unsubscribe()
	defer t2.Unsubscribe()
	waitFor(t, "hold-down to end", func() bool {
		sub, _, err := b.Subscribe(context.Background(), addr, &e3, short)
		if err == nil {
			defer sub.Unsubscribe()
			return true
		}
		if !errors.Is(err, bus.ErrHeldDown) {
			t.Fatalf("Subscribe: %v", err)
		}
		return false
	})
}

func testNoTakeover(t *testing.T, b bus.Bus) {
	addr := bus.ViewerOf(acct, chanA, "alexa-1")
	var a, c Recorder
	sub, _ := mustSubscribe(t, b, addr, &a, bus.SubscribeOptions{})
	if _, _, err := b.Subscribe(context.Background(), addr, &c, bus.SubscribeOptions{NoTakeover: true}); !errors.Is(err, bus.ErrAddressInUse) {
		t.Fatalf("NoTakeover on a held address: err = %v, want ErrAddressInUse", err)
	}
	sub.Unsubscribe()
	sub2, _ := mustSubscribe(t, b, addr, &c, bus.SubscribeOptions{NoTakeover: true})
	sub2.Unsubscribe()
}

func testViewerLimit(t *testing.T, b bus.Bus) {
	limit := bus.SubscribeOptions{MaxViewers: 2}
	var rs [5]Recorder
	s1, _ := mustSubscribe(t, b, bus.ViewerOf(acct, chanA, "v1"), &rs[0], limit)
	s2, _ := mustSubscribe(t, b, bus.ViewerOf(acct, chanA, "v2"), &rs[1], limit)
	defer s2.Unsubscribe()
	if _, _, err := b.Subscribe(context.Background(), bus.ViewerOf(acct, chanA, "v3"), &rs[2], limit); !errors.Is(err, bus.ErrViewerLimit) {
		t.Fatalf("third viewer over a limit of 2: err = %v, want ErrViewerLimit", err)
	}
	// Reconnecting with a held id is a takeover, not a new viewer.
	s1b, _ := mustSubscribe(t, b, bus.ViewerOf(acct, chanA, "v1"), &rs[3], limit)
	// Masters and uncounted subscribers do not count.
	sm, _ := mustSubscribe(t, b, bus.MasterOf(acct, chanA), &rs[4], limit)
	defer sm.Unsubscribe()
	var alexa Recorder
	su, _ := mustSubscribe(t, b, bus.ViewerOf(acct, chanA, "alexa"), &alexa, bus.SubscribeOptions{MaxViewers: 2, Uncounted: true})
	defer su.Unsubscribe()
	s1.Unsubscribe() // displaced already: must not free a slot
	if _, _, err := b.Subscribe(context.Background(), bus.ViewerOf(acct, chanA, "v3"), &rs[2], limit); !errors.Is(err, bus.ErrViewerLimit) {
		t.Fatalf("limit after a displaced unsubscribe: err = %v, want ErrViewerLimit", err)
	}
	// Taking an address over from an uncounted holder (a pending Alexa
	// offer) adds a counted viewer, so the limit applies to it.
	var alexaTaker Recorder
	if _, _, err := b.Subscribe(context.Background(), bus.ViewerOf(acct, chanA, "alexa"), &alexaTaker, limit); !errors.Is(err, bus.ErrViewerLimit) {
		t.Fatalf("counted viewer taking over an uncounted holder at the limit: err = %v, want ErrViewerLimit", err)
	}
	if d, _ := alexa.Counts(); d != 0 {
		t.Fatalf("a refused takeover displaced the uncounted holder")
	}
	if p, _ := b.Presence(context.Background(), acct, chanA); p.Viewers != 2 {
		t.Fatalf("Presence viewers = %d after a refused takeover, want 2", p.Viewers)
	}
	s1b.Unsubscribe()
	s3, _ := mustSubscribe(t, b, bus.ViewerOf(acct, chanA, "v3"), &rs[2], limit)
	s3.Unsubscribe()
}

func testPresence(t *testing.T, b bus.Bus) {
	ctx := context.Background()
	p, err := b.Presence(ctx, acct, chanA)
	if err != nil || p != (bus.Presence{}) {
		t.Fatalf("Presence of an empty channel = %+v, %v", p, err)
	}
	sm, _ := mustSubscribe(t, b, bus.MasterOf(acct, chanA), &Recorder{}, bus.SubscribeOptions{})
	sv, _ := mustSubscribe(t, b, bus.ViewerOf(acct, chanA, "v1"), &Recorder{}, bus.SubscribeOptions{})
	su, _ := mustSubscribe(t, b, bus.ViewerOf(acct, chanA, "x"), &Recorder{}, bus.SubscribeOptions{Uncounted: true})
	if p, _ := b.Presence(ctx, acct, chanA); p != (bus.Presence{Master: true, Viewers: 1}) {
		t.Fatalf("Presence = %+v, want master and 1 viewer", p)
	}
	sm.Unsubscribe()
	sv.Unsubscribe()
	su.Unsubscribe()
	if p, _ := b.Presence(ctx, acct, chanA); p != (bus.Presence{}) {
		t.Fatalf("Presence after unsubscribing all = %+v", p)
	}
}

func testCloseChannel(t *testing.T, b bus.Bus) {
	ctx := context.Background()
	var m, v, other Recorder
	mustSubscribe(t, b, bus.MasterOf(acct, chanA), &m, bus.SubscribeOptions{})
	mustSubscribe(t, b, bus.ViewerOf(acct, chanA, "v1"), &v, bus.SubscribeOptions{})
	so, _ := mustSubscribe(t, b, bus.MasterOf(acct, chanB), &other, bus.SubscribeOptions{})
	defer so.Unsubscribe()
	mustPublish(t, b, bus.ViewerOf(acct, chanA, "v2"), env("SDP_ANSWER", "", "YQ=="), pubOpts, bus.Queued)

	if err := b.CloseChannel(ctx, acct, chanA); err != nil {
		t.Fatalf("CloseChannel: %v", err)
	}
	for name, r := range map[string]*Recorder{"master": &m, "viewer": &v} {
		waitFor(t, name+" ChannelClosed", func() bool { _, c := r.Counts(); return c == 1 })
	}
	if _, c := other.Counts(); c != 0 {
		t.Fatalf("another channel's subscriber was closed")
	}
	if s := b.Stats(); s.MailboxMessages != 0 {
		t.Fatalf("mailboxes of the closed channel kept: %+v", s)
	}
	if _, _, err := b.Subscribe(ctx, bus.ViewerOf(acct, chanA, "v2"), &Recorder{}, bus.SubscribeOptions{}); !errors.Is(err, bus.ErrChannelClosed) {
		t.Fatalf("Subscribe to a closed channel: err = %v, want ErrChannelClosed", err)
	}
	if _, err := b.Publish(ctx, bus.MasterOf(acct, chanA), env("SDP_OFFER", "v1", "YQ=="), pubOpts); !errors.Is(err, bus.ErrChannelClosed) {
		t.Fatalf("Publish to a closed channel: err = %v, want ErrChannelClosed", err)
	}
	mustPublish(t, b, bus.MasterOf(acct, chanB), env("SDP_OFFER", "v1", "YQ=="), pubOpts, bus.Delivered)
}

func testIsolation(t *testing.T, b bus.Bus) {
	// Same channel ARN under another account, and the same client id on
	// another channel, are different addresses.
	var a, c, d Recorder
	s1, _ := mustSubscribe(t, b, bus.ViewerOf(acct, chanA, "v1"), &a, bus.SubscribeOptions{})
	s2, _ := mustSubscribe(t, b, bus.ViewerOf("999999999999", chanA, "v1"), &c, bus.SubscribeOptions{})
	s3, _ := mustSubscribe(t, b, bus.ViewerOf(acct, chanB, "v1"), &d, bus.SubscribeOptions{})
	defer s1.Unsubscribe()
	defer s2.Unsubscribe()
	defer s3.Unsubscribe()
	e := env("SDP_ANSWER", "", "YQ==")
	mustPublish(t, b, bus.ViewerOf(acct, chanA, "v1"), e, pubOpts, bus.Delivered)
	waitGot(t, &a, 1)
	for _, r := range []*Recorder{&a, &c, &d} {
		if dn, _ := r.Counts(); dn != 0 {
			t.Fatalf("a subscriber of a different address was displaced")
		}
	}
	if len(c.Got())+len(d.Got()) != 0 {
		t.Fatalf("envelope leaked to another address")
	}
}

func testConcurrentOrder(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	var r Recorder
	sub, _ := mustSubscribe(t, b, master, &r, bus.SubscribeOptions{})
	defer sub.Unsubscribe()
	const publishers, each = 8, 200
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				e := env("ICE_CANDIDATE", fmt.Sprintf("v%d", p), fmt.Sprintf("%d", i))
				if _, err := b.Publish(context.Background(), master, e, pubOpts); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := waitGot(t, &r, publishers*each)
	next := map[string]int{}
	for _, e := range got {
		if want := fmt.Sprintf("%d", next[e.SenderClientID]); e.Payload != want {
			t.Fatalf("publisher %s: got %s, want %s (order broken)", e.SenderClientID, e.Payload, want)
		}
		next[e.SenderClientID]++
	}
}

func testClose(t *testing.T, b bus.Bus) {
	ctx := context.Background()
	sub, _ := mustSubscribe(t, b, bus.MasterOf(acct, chanA), &Recorder{}, bus.SubscribeOptions{})
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	sub.Unsubscribe() // must not panic or block
	if _, _, err := b.Subscribe(ctx, bus.MasterOf(acct, chanA), &Recorder{}, bus.SubscribeOptions{}); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Publish(ctx, bus.MasterOf(acct, chanA), env("SDP_OFFER", "v", "YQ=="), pubOpts); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
	if err := b.CloseChannel(ctx, acct, chanA); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("CloseChannel after Close: %v, want ErrClosed", err)
	}
	if err := b.Expire(ctx); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Expire after Close: %v, want ErrClosed", err)
	}
	if err := b.Requeue(ctx, bus.MasterOf(acct, chanA), []bus.Envelope{env("SDP_OFFER", "v", "YQ==")}); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Requeue after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Withdraw(ctx, bus.MasterOf(acct, chanA), env("SDP_OFFER", "v", "YQ==")); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Withdraw after Close: %v, want ErrClosed", err)
	}
}

func mustActivate(t *testing.T, sub bus.Subscription) []bus.Envelope {
	t.Helper()
	backlog, err := sub.Activate(context.Background())
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	return backlog
}

// A deferred subscription takes the address over at once, but mail keeps
// going to the mailbox until Activate hands it over, in order.
func testDeferredQueuesUntilActivate(t *testing.T, b bus.Bus) {
	viewer := bus.ViewerOf(acct, chanA, "v1")
	var old, r Recorder
	oldSub, _ := mustSubscribe(t, b, viewer, &old, bus.SubscribeOptions{})
	defer oldSub.Unsubscribe()
	old.Refuse() // the holder is going: its mail is queued again
	queued := env("ICE_CANDIDATE", "", "YzE=")
	mustPublish(t, b, viewer, queued, pubOpts, bus.Queued)

	sub, backlog := mustSubscribe(t, b, viewer, &r, bus.SubscribeOptions{Deferred: true, MaxViewers: 1})
	defer sub.Unsubscribe()
	if len(backlog) != 0 {
		t.Fatalf("deferred Subscribe returned a backlog: %+v", backlog)
	}
	waitFor(t, "Displaced", func() bool { d, _ := old.Counts(); return d == 1 })
	if p, _ := b.Presence(context.Background(), acct, chanA); p.Viewers != 1 {
		t.Fatalf("Presence viewers = %d, want 1 (the deferred holder)", p.Viewers)
	}
	during := env("ICE_CANDIDATE", "", "YzI=")
	mustPublish(t, b, viewer, during, pubOpts, bus.Queued)
	if s := b.Stats(); s.MailboxMessages != 2 {
		t.Fatalf("mailbox holds %d envelopes before Activate, want 2", s.MailboxMessages)
	}
	sameEnvelopes(t, mustActivate(t, sub), []bus.Envelope{queued, during})
	if s := b.Stats(); s.MailboxMessages != 0 {
		t.Fatalf("Activate left %d envelopes in the mailbox", s.MailboxMessages)
	}
	live := env("ICE_CANDIDATE", "", "YzM=")
	mustPublish(t, b, viewer, live, pubOpts, bus.Delivered)
	sameEnvelopes(t, waitGot(t, &r, 1), []bus.Envelope{live})
	if again := mustActivate(t, sub); len(again) != 0 {
		t.Fatalf("second Activate returned %+v", again)
	}
}

// A deferred subscription that ends before Activate leaves the mailbox,
// and what was queued meanwhile, to the next subscriber.
func testDeferredLeftKeepsMailbox(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	first := env("SDP_OFFER", "v1", "b2ZmZXI=")
	mustPublish(t, b, master, first, pubOpts, bus.Queued)
	sub, _ := mustSubscribe(t, b, master, &Recorder{}, bus.SubscribeOptions{Deferred: true})
	second := env("ICE_CANDIDATE", "v1", "YzE=")
	mustPublish(t, b, master, second, pubOpts, bus.Queued)
	sub.Unsubscribe()
	if got := mustActivate(t, sub); len(got) != 0 {
		t.Fatalf("Activate after Unsubscribe returned %+v", got)
	}
	var r Recorder
	next, backlog := mustSubscribe(t, b, master, &r, bus.SubscribeOptions{})
	defer next.Unsubscribe()
	sameEnvelopes(t, backlog, []bus.Envelope{first, second})
}

// A deferred subscription displaced before Activate gets nothing: the
// newer holder has the mailbox.
func testDeferredDisplaced(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	e1 := env("SDP_OFFER", "v1", "b2ZmZXI=")
	mustPublish(t, b, master, e1, pubOpts, bus.Queued)
	var deferred, newer Recorder
	sub, _ := mustSubscribe(t, b, master, &deferred, bus.SubscribeOptions{Deferred: true})
	defer sub.Unsubscribe()
	next, backlog := mustSubscribe(t, b, master, &newer, bus.SubscribeOptions{})
	defer next.Unsubscribe()
	sameEnvelopes(t, backlog, []bus.Envelope{e1})
	waitFor(t, "Displaced", func() bool { d, _ := deferred.Counts(); return d == 1 })
	if got := mustActivate(t, sub); len(got) != 0 {
		t.Fatalf("Activate of a displaced subscription returned %+v", got)
	}
	e2 := env("ICE_CANDIDATE", "v1", "YzE=")
	mustPublish(t, b, master, e2, pubOpts, bus.Delivered)
	sameEnvelopes(t, waitGot(t, &newer, 1), []bus.Envelope{e2})
	if got := deferred.Got(); len(got) != 0 {
		t.Fatalf("displaced deferred subscription received %+v", got)
	}
}

// deliveredTo subscribes a recorder to addr, publishes envs to it with
// opts (each must be delivered) and unsubscribes: it returns the envelopes
// as the subscriber got them, stamped by the bus, ready to be given back.
func deliveredTo(t *testing.T, b bus.Bus, addr bus.Address, opts bus.PublishOptions, envs ...bus.Envelope) []bus.Envelope {
	t.Helper()
	var r Recorder
	sub, _ := mustSubscribe(t, b, addr, &r, bus.SubscribeOptions{})
	defer sub.Unsubscribe()
	for _, e := range envs {
		mustPublish(t, b, addr, e, opts, bus.Delivered)
	}
	got := waitGot(t, &r, len(envs))
	for i, g := range got {
		if g.Expires.IsZero() {
			t.Fatalf("delivered envelope %d carries no expiry", i)
		}
	}
	return got
}

func mustRequeue(t *testing.T, b bus.Bus, addr bus.Address, envs []bus.Envelope) {
	t.Helper()
	if err := b.Requeue(context.Background(), addr, envs); err != nil {
		t.Fatalf("Requeue(%+v): %v", addr, err)
	}
}

// Envelopes a connection took but could not write go back in front of
// what was queued for its address after them, and the mailbox limits do
// not refuse them.
func testRequeueInFront(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	limits := bus.PublishOptions{TTL: ttl, MaxMailboxMessages: 1}
	taken := deliveredTo(t, b, master, limits, env("SDP_OFFER", "v1", "b2Zm"), env("ICE_CANDIDATE", "v1", "YzE="))
	later := env("ICE_CANDIDATE", "v1", "YzI=")
	mustPublish(t, b, master, later, limits, bus.Queued)
	mustRequeue(t, b, master, taken)
	if s := b.Stats(); s.MailboxMessages != 3 {
		t.Fatalf("Stats().MailboxMessages = %d after Requeue, want 3", s.MailboxMessages)
	}
	var r Recorder
	sub, backlog := mustSubscribe(t, b, master, &r, bus.SubscribeOptions{})
	defer sub.Unsubscribe()
	sameEnvelopes(t, backlog, append(taken, later))
}

// After a takeover the envelopes the displaced holder could not write go
// straight to the new holder; what a holder refuses stays in the mailbox.
func testRequeueToNewHolder(t *testing.T, b bus.Bus) {
	viewer := bus.ViewerOf(acct, chanA, "v1")
	var old, current Recorder
	oldSub, _ := mustSubscribe(t, b, viewer, &old, bus.SubscribeOptions{})
	defer oldSub.Unsubscribe()
	for _, e := range []bus.Envelope{env("SDP_ANSWER", "", "YW5z"), env("ICE_CANDIDATE", "", "YzE=")} {
		mustPublish(t, b, viewer, e, pubOpts, bus.Delivered)
	}
	taken := waitGot(t, &old, 2)
	sub, _ := mustSubscribe(t, b, viewer, &current, bus.SubscribeOptions{})
	defer sub.Unsubscribe()
	waitFor(t, "Displaced", func() bool { d, _ := old.Counts(); return d == 1 })
	mustRequeue(t, b, viewer, taken)
	sameEnvelopes(t, waitGot(t, &current, 2), taken)
	if s := b.Stats(); s.MailboxMessages != 0 {
		t.Fatalf("Requeue to a live holder queued %d envelopes", s.MailboxMessages)
	}

	current.Refuse()
	mustRequeue(t, b, viewer, taken)
	sub.Unsubscribe()
	var next Recorder
	nextSub, backlog := mustSubscribe(t, b, viewer, &next, bus.SubscribeOptions{})
	defer nextSub.Unsubscribe()
	sameEnvelopes(t, backlog, taken)
}

// A deferred holder gets the envelopes given back first when it activates.
func testRequeueToDeferred(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	taken := deliveredTo(t, b, master, pubOpts, env("ICE_CANDIDATE", "v1", "YzE="))
	var r Recorder
	sub, _ := mustSubscribe(t, b, master, &r, bus.SubscribeOptions{Deferred: true})
	defer sub.Unsubscribe()
	during := env("ICE_CANDIDATE", "v1", "YzI=")
	mustPublish(t, b, master, during, pubOpts, bus.Queued)
	mustRequeue(t, b, master, taken)
	if got := r.Got(); len(got) != 0 {
		t.Fatalf("deferred holder received %+v before Activate", got)
	}
	sameEnvelopes(t, mustActivate(t, sub), append(taken, during))
}

// An envelope given back keeps the expiry it was accepted with: it waits
// only for the rest of its TTL, and one whose TTL has passed is dropped.
func testRequeueRemainingTTL(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	short := bus.PublishOptions{TTL: 300 * time.Millisecond}
	before := b.Stats().Expired
	taken := deliveredTo(t, b, master, short, env("ICE_CANDIDATE", "v1", "YzE="))
	kept := deliveredTo(t, b, master, pubOpts, env("ICE_CANDIDATE", "v1", "YzI="))
	gone := deliveredTo(t, b, master, bus.PublishOptions{}, env("ICE_CANDIDATE", "v1", "YzM=")) // TTL 0: never queued
	mustRequeue(t, b, master, append(append(taken, kept...), gone...))
	if got := b.Stats().Expired - before; got != 1 {
		t.Fatalf("expired = %d after requeueing a TTL-0 envelope, want 1", got)
	}
	time.Sleep(time.Until(taken[0].Expires) + 50*time.Millisecond)
	var r Recorder
	sub, backlog := mustSubscribe(t, b, master, &r, bus.SubscribeOptions{})
	defer sub.Unsubscribe()
	sameEnvelopes(t, backlog, kept)
	if got := b.Stats().Expired - before; got != 2 {
		t.Fatalf("expired = %d, want 2", got)
	}
}

// In the mailbox the replacement rule holds for envelopes given back: an
// offer or answer followed by a newer one of the same type and sender is
// dropped.
func testRequeueReplacement(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	taken := deliveredTo(t, b, master, pubOpts,
		env("SDP_OFFER", "v1", "b2ZmZXIx"),
		env("SDP_OFFER", "v2", "b2ZmZXJ2Mg=="),
		env("ICE_CANDIDATE", "v1", "YzE="),
		env("SDP_OFFER", "v1", "b2ZmZXIy"), // newer than the first offer of v1
	)
	newer := env("SDP_OFFER", "v2", "b2ZmZXJ2Mw==") // newer than the offer of v2
	mustPublish(t, b, master, newer, pubOpts, bus.Queued)
	before := b.Stats().Replaced
	mustRequeue(t, b, master, taken)
	if got := b.Stats().Replaced - before; got != 2 {
		t.Fatalf("Stats().Replaced grew by %d, want 2", got)
	}
	var r Recorder
	sub, backlog := mustSubscribe(t, b, master, &r, bus.SubscribeOptions{})
	defer sub.Unsubscribe()
	sameEnvelopes(t, backlog, []bus.Envelope{taken[2], taken[3], newer})
}

// A closed channel's mail is gone: what is given back for it is dropped.
func testRequeueClosedChannel(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	taken := deliveredTo(t, b, master, pubOpts, env("SDP_OFFER", "v1", "b2Zm"))
	if err := b.CloseChannel(context.Background(), acct, chanA); err != nil {
		t.Fatalf("CloseChannel: %v", err)
	}
	if err := b.Requeue(context.Background(), master, taken); !errors.Is(err, bus.ErrChannelClosed) {
		t.Fatalf("Requeue to a closed channel: err = %v, want ErrChannelClosed", err)
	}
	if s := b.Stats(); s.MailboxMessages != 0 {
		t.Fatalf("Requeue kept %d envelopes of a closed channel", s.MailboxMessages)
	}
}

func mustWithdraw(t *testing.T, b bus.Bus, addr bus.Address, e bus.Envelope, want bool) {
	t.Helper()
	got, err := b.Withdraw(context.Background(), addr, e)
	if err != nil {
		t.Fatalf("Withdraw(%+v): %v", addr, err)
	}
	if got != want {
		t.Fatalf("Withdraw(%+v, %s from %q) = %v, want %v", addr, e.Type, e.SenderClientID, got, want)
	}
}

// A queued envelope can be withdrawn until someone receives it, and
// only one that says exactly what it said: a newer offer of the same
// sender that replaced it stays.
func testWithdrawFromMailbox(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	mustWithdraw(t, b, master, env("SDP_OFFER", "alexa", "b2Zm"), false) // nothing ever queued

	mine := env("SDP_OFFER", "alexa", "b2ZmZXIx")
	kept := env("ICE_CANDIDATE", "v1", "YzE=")
	mustPublish(t, b, master, mine, pubOpts, bus.Queued)
	mustPublish(t, b, master, kept, pubOpts, bus.Queued)
	mustWithdraw(t, b, master, mine, true)
	mustWithdraw(t, b, master, mine, false)
	if s := b.Stats(); s.MailboxMessages != 1 || s.MailboxBytes != int64(kept.Size()) {
		t.Fatalf("Stats() = %+v after Withdraw, want only the candidate queued", s)
	}

	replaced := env("SDP_OFFER", "v2", "b2ZmZXIx")
	newer := env("SDP_OFFER", "v2", "b2ZmZXIy")
	mustPublish(t, b, master, replaced, pubOpts, bus.Queued)
	mustPublish(t, b, master, newer, pubOpts, bus.Queued)
	mustWithdraw(t, b, master, replaced, false)

	// A deferred holder has not received its mailbox yet.
	pending := env("SDP_OFFER", "v3", "b2ZmZXIz")
	mustPublish(t, b, master, pending, pubOpts, bus.Queued)
	var r Recorder
	sub, _ := mustSubscribe(t, b, master, &r, bus.SubscribeOptions{Deferred: true})
	defer sub.Unsubscribe()
	mustWithdraw(t, b, master, pending, true)
	sameEnvelopes(t, mustActivate(t, sub), []bus.Envelope{kept, newer})

	// Received: beyond reach, whether live or from the backlog.
	live := env("SDP_OFFER", "v4", "b2ZmZXI0")
	mustPublish(t, b, master, live, pubOpts, bus.Delivered)
	mustWithdraw(t, b, master, live, false)
	sameEnvelopes(t, waitGot(t, &r, 1), []bus.Envelope{live})
}

// A subscriber taking the mailbox and a publisher withdrawing from it at
// the same moment: the envelope is either withdrawn or in the backlog,
// never both and never neither.
func testWithdrawOrReceive(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	for i := range 100 {
		offer := env("SDP_OFFER", "alexa", fmt.Sprintf("b2Zm%04d", i))
		mustPublish(t, b, master, offer, pubOpts, bus.Queued)
		var (
			wg        sync.WaitGroup
			withdrawn bool
			backlog   []bus.Envelope
			sub       bus.Subscription
		)
		wg.Go(func() {
			var err error
			if withdrawn, err = b.Withdraw(context.Background(), master, offer); err != nil {
				t.Errorf("Withdraw: %v", err)
			}
		})
		wg.Go(func() {
			var err error
			if sub, backlog, err = b.Subscribe(context.Background(), master, &Recorder{}, bus.SubscribeOptions{}); err != nil {
				t.Errorf("Subscribe: %v", err)
			}
		})
		wg.Wait()
		if t.Failed() {
			return
		}
		sub.Unsubscribe()
		if received := len(backlog) == 1; withdrawn == received {
			t.Fatalf("round %d: withdrawn %v, in the backlog %v (%+v)", i, withdrawn, received, backlog)
		}
	}
	if s := b.Stats(); s.MailboxMessages != 0 {
		t.Fatalf("%d envelopes left in the mailbox", s.MailboxMessages)
	}
}

// A closed channel's mail is gone: there is nothing to withdraw.
func testWithdrawClosedChannel(t *testing.T, b bus.Bus) {
	master := bus.MasterOf(acct, chanA)
	offer := env("SDP_OFFER", "alexa", "b2Zm")
	mustPublish(t, b, master, offer, pubOpts, bus.Queued)
	if err := b.CloseChannel(context.Background(), acct, chanA); err != nil {
		t.Fatalf("CloseChannel: %v", err)
	}
	if _, err := b.Withdraw(context.Background(), master, offer); !errors.Is(err, bus.ErrChannelClosed) {
		t.Fatalf("Withdraw from a closed channel: err = %v, want ErrChannelClosed", err)
	}
}
