package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// later returns ch created d later.
func later(ch store.Channel, d time.Duration) store.Channel {
	ch.CreatedAt = ch.CreatedAt.Add(d)
	return ch
}

// wholeMilli returns a sample channel whose CreatedAt is a whole
// millisecond, so that the tests below hold for a backend that keeps
// creation times to the millisecond only (as diffChannel allows).
func wholeMilli(account, name string) store.Channel {
	ch := sample(account, name)
	ch.CreatedAt = ch.CreatedAt.Truncate(time.Millisecond)
	return ch
}

// mustDelete deletes a channel or fails the test.
func mustDelete(t *testing.T, s store.Store, account, name string) {
	t.Helper()
	if _, err := s.DeleteChannel(t.Context(), account, name, approve[store.Channel]); err != nil {
		t.Fatalf("DeleteChannel(%s/%s): %v", account, name, err)
	}
}

// wantTooEarly checks that err is a *CreatedTooEarlyError naming deleted.
func wantTooEarly(t *testing.T, err error, deleted store.Channel) {
	t.Helper()
	var early *store.CreatedTooEarlyError
	if !errors.As(err, &early) || !errors.Is(err, store.ErrCreatedTooEarly) {
		t.Fatalf("CreateChannel = %v, want a *CreatedTooEarlyError", err)
	}
	if early.Account != deleted.Account || early.Name != deleted.Name {
		t.Errorf("error names %s/%s, want %s/%s", early.Account, early.Name, deleted.Account, deleted.Name)
	}
	if skew := early.Deleted.Sub(deleted.CreatedAt).Abs(); skew >= time.Millisecond {
		t.Errorf("error says the deleted channel was created at %v, want %v", early.Deleted, deleted.CreatedAt)
	}
}

// testCreateAfterDelete: a channel created again under a deleted one's
// account and name must carry a later creation time, whichever other
// channels come and go.
func testCreateAfterDelete(t *testing.T, open opener) {
	t.Run("same or earlier time refused", func(t *testing.T) {
		s := fresh(t, open)
		orig := wholeMilli("111111111111", "cam")
		mustCreate(t, s, orig)
		mustDelete(t, s, "111111111111", "cam")
		for _, d := range []time.Duration{0, -time.Millisecond, -time.Hour} {
			wantTooEarly(t, s.CreateChannel(t.Context(), later(orig, d), 0), orig)
		}
		if _, err := s.GetChannel(t.Context(), "111111111111", "cam"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("refused channel was stored: GetChannel = %v", err)
		}
		if n, err := s.CountChannels(t.Context(), "111111111111"); err != nil || n != 0 {
			t.Errorf("CountChannels = %d, %v; want 0", n, err)
		}
		again := later(orig, time.Millisecond)
		if err := s.CreateChannel(t.Context(), again, 0); err != nil {
			t.Fatalf("CreateChannel 1 ms later: %v", err)
		}
		if d := diffChannel(mustGet(t, s, "111111111111", "cam"), again); d != "" {
			t.Errorf("recreated channel: %s", d)
		}
	})
	t.Run("per account and name", func(t *testing.T) {
		s := fresh(t, open)
		mustCreate(t, s, wholeMilli("111111111111", "cam"))
		mustDelete(t, s, "111111111111", "cam")
		mustCreate(t, s, wholeMilli("111111111111", "other"))
		mustCreate(t, s, wholeMilli("222222222222", "cam"))
	})
	t.Run("latest deletion counts", func(t *testing.T) {
		s := fresh(t, open)
		first := wholeMilli("111111111111", "cam")
		second := later(first, time.Hour)
		mustCreate(t, s, first)
		mustDelete(t, s, "111111111111", "cam")
		mustCreate(t, s, second)
		mustDelete(t, s, "111111111111", "cam")
		wantTooEarly(t, s.CreateChannel(t.Context(), later(first, time.Minute), 0), second)
		mustCreate(t, s, later(second, time.Millisecond))
	})
	t.Run("other refusals come first", func(t *testing.T) {
		s := fresh(t, open)
		orig := wholeMilli("111111111111", "cam")
		mustCreate(t, s, orig)
		mustDelete(t, s, "111111111111", "cam")
		mustCreate(t, s, sample("111111111111", "full"))
		if err := s.CreateChannel(t.Context(), orig, 1); !errors.Is(err, store.ErrLimitExceeded) {
			t.Errorf("too early and over the limit = %v, want ErrLimitExceeded", err)
		}
		mustCreate(t, s, later(orig, time.Second))
		if err := s.CreateChannel(t.Context(), orig, 0); !errors.Is(err, store.ErrExists) {
			t.Errorf("too early and taken = %v, want ErrExists", err)
		}
	})
}
