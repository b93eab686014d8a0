package storetest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// call is one store method invoked with fixed arguments, for tables that
// check every method the same way.
type call struct {
	name string
	do   func(ctx context.Context, s store.Store) error
}

// approve is a mutate/check function that allows everything.
func approve[T any](T) error { return nil }

// writeCalls invokes every write method on channel 111111111111/cam, which
// the caller has created, and on secret "turn-key".
func writeCalls(generated *atomic.Int32) []call {
	return []call{
		{"CreateChannel", func(ctx context.Context, s store.Store) error {
			return s.CreateChannel(ctx, sample("111111111111", "new"), 0)
		}},
		{"UpdateChannel", func(ctx context.Context, s store.Store) error {
			_, err := s.UpdateChannel(ctx, "111111111111", "cam", func(ch *store.Channel) error {
				ch.Version = "changed"
				return nil
			})
			return err
		}},
		{"DeleteChannel", func(ctx context.Context, s store.Store) error {
			_, err := s.DeleteChannel(ctx, "111111111111", "cam", approve[store.Channel])
			return err
		}},
		{"Secret", func(ctx context.Context, s store.Store) error {
			_, err := s.Secret(ctx, "turn-key", generator(generated))
			return err
		}},
		{"DeleteSecret", func(ctx context.Context, s store.Store) error {
			return s.DeleteSecret(ctx, "turn-key")
		}},
	}
}

// readCalls invokes every read method.
func readCalls() []call {
	return []call{
		{"GetChannel", func(ctx context.Context, s store.Store) error {
			_, err := s.GetChannel(ctx, "111111111111", "cam")
			return err
		}},
		{"ListChannels", func(ctx context.Context, s store.Store) error {
			_, err := s.ListChannels(ctx, "111111111111", store.ListOptions{Limit: 10})
			return err
		}},
		{"CountChannels", func(ctx context.Context, s store.Store) error {
			_, err := s.CountChannels(ctx, "111111111111")
			return err
		}},
		{"Ping", func(ctx context.Context, s store.Store) error { return s.Ping(ctx) }},
	}
}

// testPing: an open store answers Ping.
func testPing(t *testing.T, open opener) {
	s := fresh(t, open)
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// testClosed: after Close every method fails with ErrClosed, and Close
// can be called again.
func testClosed(t *testing.T, open opener) {
	s := fresh(t, open)
	mustCreate(t, s, sample("111111111111", "cam"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var generated atomic.Int32
	for _, c := range append(writeCalls(&generated), readCalls()...) {
		t.Run(c.name, func(t *testing.T) {
			if err := c.do(t.Context(), s); !errors.Is(err, store.ErrClosed) {
				t.Errorf("%s after Close = %v, want ErrClosed", c.name, err)
			}
		})
	}
	if generated.Load() != 0 {
		t.Error("Secret called generate on a closed store")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

// testCanceledContext: a write called with a context that is already done
// returns ctx.Err() and writes nothing.
func testCanceledContext(t *testing.T, open opener) {
	s := fresh(t, open)
	orig := sample("111111111111", "cam")
	mustCreate(t, s, orig)
	var generated atomic.Int32
	for _, c := range writeCalls(&generated) {
		t.Run(c.name, func(t *testing.T) {
			if err := c.do(canceled(t), s); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a canceled context = %v, want context.Canceled", c.name, err)
			}
		})
	}
	if _, err := s.GetChannel(t.Context(), "111111111111", "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("canceled CreateChannel stored the channel: GetChannel = %v", err)
	}
	if d := diffChannel(mustGet(t, s, "111111111111", "cam"), orig); d != "" {
		t.Errorf("canceled UpdateChannel or DeleteChannel changed the channel: %s", d)
	}
	before := generated.Load()
	if _, err := s.Secret(t.Context(), "turn-key", generator(&generated)); err != nil {
		t.Fatalf("Secret: %v", err)
	}
	if generated.Load() == before {
		t.Error("canceled Secret stored a value")
	}
}
