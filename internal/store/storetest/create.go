package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// testCreateGet: a created channel reads back with every field.
func testCreateGet(t *testing.T, open opener) {
	full := sample("111122223333", "front-door")
	nilTags := sample("111122223333", "nil-tags")
	nilTags.Tags = nil
	emptyTags := sample("111122223333", "empty-tags")
	emptyTags.Tags = map[string]string{}
	manyTags := sample("111122223333", "many-tags")
	manyTags.Tags = map[string]string{}
	for i := range 50 {
		manyTags.Tags[fmt.Sprintf("key-%02d", i)] = strings.Repeat("v", i)
	}
	sparse := store.Channel{Account: "111122223333", Name: "only-key"}
	longName := sample("111122223333", strings.Repeat("n", 256))
	punct := sample("111122223333", "A.b-c_9")
	local := sample("111122223333", "local-time")
	local.CreatedAt = time.Now()

	cases := []struct {
		name string
		ch   store.Channel
	}{
		{"all fields", full},
		{"nil tags", nilTags},
		{"empty tags", emptyTags},
		{"many tags", manyTags},
		{"zero values besides the key", sparse},
		{"256-character name", longName},
		{"punctuation in name", punct},
		{"monotonic clock reading", local},
	}
	s := fresh(t, open)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustCreate(t, s, tc.ch)
			got := mustGet(t, s, tc.ch.Account, tc.ch.Name)
			if d := diffChannel(got, tc.ch); d != "" {
				t.Errorf("GetChannel after CreateChannel: %s", d)
			}
		})
	}
}

// testCreateExists: names are unique per account, not across accounts.
func testCreateExists(t *testing.T, open opener) {
	s := fresh(t, open)
	orig := sample("111111111111", "cam")
	mustCreate(t, s, orig)

	dup := sample("111111111111", "cam")
	dup.ARN, dup.Version = "other-arn", "other-version"
	if err := s.CreateChannel(t.Context(), dup, 0); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate CreateChannel = %v, want ErrExists", err)
	}
	if d := diffChannel(mustGet(t, s, "111111111111", "cam"), orig); d != "" {
		t.Errorf("duplicate create changed the original: %s", d)
	}

	other := sample("222222222222", "cam")
	if err := s.CreateChannel(t.Context(), other, 0); err != nil {
		t.Fatalf("same name in another account: %v", err)
	}
	if d := diffChannel(mustGet(t, s, "222222222222", "cam"), other); d != "" {
		t.Errorf("other account's channel: %s", d)
	}
}

// testCreateLimit: ErrLimitExceeded exactly at maxPerAccount, counted per
// account, with 0 meaning no limit.
func testCreateLimit(t *testing.T, open opener) {
	cases := []struct {
		name   string
		limit  int
		create int // channels created before the probe, all must succeed
	}{
		{"limit 1", 1, 1},
		{"limit 3", 3, 3},
		{"limit 0 is unlimited", 0, 40},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := fresh(t, open)
			ctx := t.Context()
			for i := range tc.create {
				if err := s.CreateChannel(ctx, sample("111111111111", fmt.Sprintf("c%02d", i)), tc.limit); err != nil {
					t.Fatalf("create %d of %d: %v", i+1, tc.create, err)
				}
			}
			err := s.CreateChannel(ctx, sample("111111111111", "one-more"), tc.limit)
			if tc.limit == 0 {
				if err != nil {
					t.Fatalf("unlimited create: %v", err)
				}
				return
			}
			if !errors.Is(err, store.ErrLimitExceeded) {
				t.Fatalf("create past the limit = %v, want ErrLimitExceeded", err)
			}
			if _, err := s.GetChannel(ctx, "111111111111", "one-more"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("refused channel was stored: GetChannel = %v", err)
			}
			// At the limit a duplicate name is still reported as such.
			if err := s.CreateChannel(ctx, sample("111111111111", "c00"), tc.limit); !errors.Is(err, store.ErrExists) {
				t.Errorf("duplicate at the limit = %v, want ErrExists", err)
			}
			// The limit is per account.
			if err := s.CreateChannel(ctx, sample("222222222222", "one-more"), tc.limit); err != nil {
				t.Errorf("other account under its own limit: %v", err)
			}
			// Deleting frees a slot.
			if _, err := s.DeleteChannel(ctx, "111111111111", "c00", func(store.Channel) error { return nil }); err != nil {
				t.Fatalf("DeleteChannel: %v", err)
			}
			if err := s.CreateChannel(ctx, sample("111111111111", "one-more"), tc.limit); err != nil {
				t.Errorf("create after freeing a slot: %v", err)
			}
		})
	}
}

// testCreateConcurrent: the existence and limit checks are atomic with the
// write.
func testCreateConcurrent(t *testing.T, open opener) {
	t.Run("limit holds", func(t *testing.T) {
		s := fresh(t, open)
		const writers, limit = 20, 10
		errs := concurrently(writers, func(i int) error {
			return s.CreateChannel(t.Context(), sample("111111111111", fmt.Sprintf("c%02d", i)), limit)
		})
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrLimitExceeded):
				t.Errorf("CreateChannel = %v, want nil or ErrLimitExceeded", err)
			}
		}
		if ok != limit {
			t.Errorf("%d creates succeeded, want exactly %d", ok, limit)
		}
		if n, err := s.CountChannels(t.Context(), "111111111111"); err != nil || n != limit {
			t.Errorf("CountChannels = %d, %v; want %d", n, err, limit)
		}
	})
	t.Run("one name, one winner", func(t *testing.T) {
		s := fresh(t, open)
		const writers = 20
		errs := concurrently(writers, func(i int) error {
			ch := sample("111111111111", "contested")
			ch.Version = fmt.Sprint(i)
			return s.CreateChannel(t.Context(), ch, 0)
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("writers %d and %d both created the channel", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, store.ErrExists):
				t.Errorf("CreateChannel = %v, want nil or ErrExists", err)
			}
		}
		if winner < 0 {
			t.Fatal("no writer created the channel")
		}
		if got := mustGet(t, s, "111111111111", "contested"); got.Version != fmt.Sprint(winner) {
			t.Errorf("stored Version %q, but writer %d won", got.Version, winner)
		}
	})
}

// testGetNotFound: a missing channel is ErrNotFound, whether or not its
// account has other channels.
func testGetNotFound(t *testing.T, open opener) {
	s := fresh(t, open)
	mustCreate(t, s, sample("111111111111", "present"))
	cases := []struct{ name, account, channel string }{
		{"missing name", "111111111111", "absent"},
		{"name differs by case", "111111111111", "Present"},
		{"prefix of a name", "111111111111", "pres"},
		{"unknown account", "999999999999", "present"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.GetChannel(t.Context(), tc.account, tc.channel); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetChannel = %v, want ErrNotFound", err)
			}
		})
	}
}
