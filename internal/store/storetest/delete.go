package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// testDelete: DeleteChannel asks check, removes on approval, returns what
// it removed, and frees the name.
func testDelete(t *testing.T, open opener) {
	t.Run("approved", func(t *testing.T) {
		s := fresh(t, open)
		orig := sample("111111111111", "cam")
		mustCreate(t, s, orig)
		mustCreate(t, s, sample("111111111111", "keep"))
		var checked store.Channel
		got, err := s.DeleteChannel(t.Context(), "111111111111", "cam", func(ch store.Channel) error {
			checked = ch.Clone()
			return nil
		})
		if err != nil {
			t.Fatalf("DeleteChannel: %v", err)
		}
		if d := diffChannel(checked, orig); d != "" {
			t.Errorf("check was given %s", d)
		}
		if d := diffChannel(got, orig); d != "" {
			t.Errorf("returned channel: %s", d)
		}
		if _, err := s.GetChannel(t.Context(), "111111111111", "cam"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetChannel after delete = %v, want ErrNotFound", err)
		}
		mustGet(t, s, "111111111111", "keep")
	})
	t.Run("refused", func(t *testing.T) {
		s := fresh(t, open)
		orig := sample("111111111111", "cam")
		mustCreate(t, s, orig)
		_, err := s.DeleteChannel(t.Context(), "111111111111", "cam", func(store.Channel) error {
			return fmt.Errorf("in use: %w", errRefused)
		})
		if !errors.Is(err, errRefused) {
			t.Fatalf("DeleteChannel = %v, want the check's error", err)
		}
		if d := diffChannel(mustGet(t, s, "111111111111", "cam"), orig); d != "" {
			t.Errorf("refused delete changed the channel: %s", d)
		}
	})
	t.Run("not found", func(t *testing.T) {
		s := fresh(t, open)
		mustCreate(t, s, sample("111111111111", "cam"))
		for _, key := range [][2]string{{"111111111111", "absent"}, {"999999999999", "cam"}} {
			called := false
			_, err := s.DeleteChannel(t.Context(), key[0], key[1], func(store.Channel) error { called = true; return nil })
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("DeleteChannel(%s/%s) = %v, want ErrNotFound", key[0], key[1], err)
			}
			if called {
				t.Errorf("DeleteChannel(%s/%s) called check for a missing channel", key[0], key[1])
			}
		}
	})
	t.Run("name reusable", func(t *testing.T) {
		s := fresh(t, open)
		mustCreate(t, s, sample("111111111111", "cam"))
		if _, err := s.DeleteChannel(t.Context(), "111111111111", "cam", func(store.Channel) error { return nil }); err != nil {
			t.Fatalf("DeleteChannel: %v", err)
		}
		again := later(sample("111111111111", "cam"), time.Millisecond)
		again.ARN, again.Version, again.Tags = "arn-2", "v-again", map[string]string{"second": "life"}
		if err := s.CreateChannel(t.Context(), again, 1); err != nil {
			t.Fatalf("CreateChannel after delete: %v", err)
		}
		if d := diffChannel(mustGet(t, s, "111111111111", "cam"), again); d != "" {
			t.Errorf("recreated channel: %s", d)
		}
		got, err := s.ListChannels(t.Context(), "111111111111", store.ListOptions{Limit: 10})
		if err != nil || len(got) != 1 {
			t.Errorf("ListChannels after recreate = %q, %v; want one channel", names(got), err)
		}
	})
}

// testDeleteConcurrent: of many concurrent deletes of one channel, exactly
// one removes it.
func testDeleteConcurrent(t *testing.T, open opener) {
	s := fresh(t, open)
	mustCreate(t, s, sample("111111111111", "cam"))
	const writers = 20
	errs := concurrently(writers, func(int) error {
		_, err := s.DeleteChannel(t.Context(), "111111111111", "cam", func(store.Channel) error { return nil })
		return err
	})
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("DeleteChannel = %v, want nil or ErrNotFound", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d deletes succeeded, want exactly 1", ok)
	}
	if n, err := s.CountChannels(t.Context(), "111111111111"); err != nil || n != 0 {
		t.Errorf("CountChannels = %d, %v; want 0", n, err)
	}
}
