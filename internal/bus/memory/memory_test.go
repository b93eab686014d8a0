package memory_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/bus"
	"github.com/switchboard-rtc/switchboard/internal/bus/bustest"
	"github.com/switchboard-rtc/switchboard/internal/bus/memory"
)

func TestConformance(t *testing.T) {
	bustest.Run(t, func(*testing.T) bus.Bus { return memory.New(memory.Options{}) })
}

// fakeClock is a settable clock for the tests that depend on the passage of
// long periods.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const (
	acct = "111122223333"
	arn  = "arn:aws:kinesisvideo:us-west-2:111122223333:channel/a/1700000000000"
)

func TestExpiryUsesTTLCapturedAtPublish(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	b := memory.New(memory.Options{Now: clock.Now})
	ctx := context.Background()
	master := bus.MasterOf(acct, arn)
	publish := func(payload string, ttl time.Duration) {
		t.Helper()
		env := bus.Envelope{Type: "ICE_CANDIDATE", SenderClientID: "v1", Payload: payload}
		if _, err := b.Publish(ctx, master, env, bus.PublishOptions{TTL: ttl}); err != nil {
			t.Fatal(err)
		}
	}
	publish("a", 60*time.Second)
	publish("b", 5*time.Second)
	clock.Advance(30 * time.Second)
	publish("c", 5*time.Second)
	if err := b.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Expired != 1 || s.MailboxMessages != 2 {
		t.Fatalf("after 30 s: %+v, want 1 expired and 2 queued", s)
	}
	clock.Advance(10 * time.Second)
	var r bustest.Recorder
	sub, backlog, err := b.Subscribe(ctx, master, &r, bus.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if len(backlog) != 1 || backlog[0].Payload != "a" {
		t.Fatalf("backlog = %+v, want only a", backlog)
	}
	if s := b.Stats(); s.Expired != 2 || s.MailboxMessages != 0 || s.MailboxBytes != 0 {
		t.Fatalf("final stats %+v", s)
	}
}

func TestClosedChannelReopensAfterRetention(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	b := memory.New(memory.Options{Now: clock.Now, ClosedChannelRetention: time.Minute})
	ctx := context.Background()
	if err := b.CloseChannel(ctx, acct, arn); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Subscribe(ctx, bus.MasterOf(acct, arn), &bustest.Recorder{}, bus.SubscribeOptions{}); !errors.Is(err, bus.ErrChannelClosed) {
		t.Fatalf("err = %v, want ErrChannelClosed", err)
	}
	clock.Advance(2 * time.Minute)
	if err := b.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	sub, _, err := b.Subscribe(ctx, bus.MasterOf(acct, arn), &bustest.Recorder{}, bus.SubscribeOptions{})
	if err != nil {
		t.Fatalf("Subscribe after retention: %v", err)
	}
	sub.Unsubscribe()
}

func BenchmarkPublishDelivered(b *testing.B) {
	bb := memory.New(memory.Options{})
	ctx := context.Background()
	master := bus.MasterOf(acct, arn)
	sub, _, err := bb.Subscribe(ctx, master, discard{}, bus.SubscribeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	env := bus.Envelope{Type: "ICE_CANDIDATE", SenderClientID: "v1", Payload: "eyJjYW5kaWRhdGUiOiJ4In0="}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := bb.Publish(ctx, master, env, bus.PublishOptions{TTL: time.Minute}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type discard struct{}

func (discard) Deliver(bus.Envelope) bool { return true }
func (discard) Displaced()                {}
func (discard) ChannelClosed()            {}
