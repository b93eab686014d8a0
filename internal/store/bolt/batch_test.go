package bolt

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// TestBatchRerun puts writes that fail inside bbolt (a key too large) in
// the same batches as counter increments, so that bbolt re-runs the
// batch: each increment must still count exactly once and report the
// value it committed.
func TestBatchRerun(t *testing.T) {
	s, _ := openTemp(t, Options{BatchDelay: 20 * time.Millisecond})
	if err := s.CreateChannel(t.Context(), store.Channel{Account: "1", Name: "counter"}, 0); err != nil {
		t.Fatal(err)
	}
	const increments, failures = 30, 5
	done := make(chan error, increments+failures)
	returned := make(chan int, increments)
	for range failures {
		go func() {
			err := s.CreateChannel(t.Context(), store.Channel{Account: "1", Name: strings.Repeat("x", bbolt.MaxKeySize+1)}, 0)
			if err == nil {
				err = errors.New("oversized key accepted")
			} else {
				err = nil
			}
			done <- err
		}()
	}
	for range increments {
		go func() {
			ch, err := s.UpdateChannel(t.Context(), "1", "counter", func(ch *store.Channel) error {
				ch.MessageTTL++
				return nil
			})
			returned <- ch.MessageTTL
			done <- err
		}()
	}
	for range increments + failures {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	seen := make(map[int]bool)
	for range increments {
		v := <-returned
		if seen[v] || v < 1 || v > increments {
			t.Errorf("returned TTL %d is duplicated or out of range", v)
		}
		seen[v] = true
	}
	if got, _ := s.GetChannel(t.Context(), "1", "counter"); got.MessageTTL != increments {
		t.Errorf("TTL after %d increments = %d", increments, got.MessageTTL)
	}
	assertCountsMatchKeys(t, s)
}

// TestBatchResultIsFromCommittedRun makes bbolt run an update twice (a
// failing write joins its batch after it) with a mutate that writes a
// different value each time: the caller must get the value that was
// committed, not the one of the discarded first run.
func TestBatchResultIsFromCommittedRun(t *testing.T) {
	seeded, path := openTemp(t, Options{})
	for _, name := range []string{"cam", "blocker"} {
		if err := seeded.CreateChannel(t.Context(), store.Channel{Account: "1", Name: name}, 0); err != nil {
			t.Fatal(err)
		}
	}
	seeded.Close()
	// A long delay and batches of two: the update waits for the create.
	s, err := Open(path, Options{BatchDelay: time.Minute, MaxBatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for attempt := range 5 {
		calls, got := updateBehindFailure(t, s)
		stored, err := s.GetChannel(t.Context(), "1", "cam")
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != stored.Version {
			t.Fatalf("UpdateChannel returned Version %s, the store holds %s", got.Version, stored.Version)
		}
		if calls > 1 {
			return // the re-run path was exercised
		}
		t.Logf("attempt %d: mutate ran once; retrying to force a re-run", attempt)
	}
	t.Error("could not get bbolt to re-run a batched update")
}

// updateBehindFailure holds the write lock with a blocking update so that
// an update of "cam" and then a create that bbolt rejects queue up in one
// batch; it returns how often the update's mutate ran and what it returned.
func updateBehindFailure(t *testing.T, s *Store) (int32, store.Channel) {
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 3)
	go func() {
		_, err := s.UpdateChannel(t.Context(), "1", "blocker", func(*store.Channel) error {
			close(entered)
			<-release
			return nil
		})
		done <- err
	}()
	<-entered
	var calls atomic.Int32
	var updated store.Channel
	go func() {
		var err error
		updated, err = s.UpdateChannel(t.Context(), "1", "cam", func(ch *store.Channel) error {
			ch.Version = fmt.Sprint(calls.Add(1))
			return nil
		})
		done <- err
	}()
	awaitWriters(t, s, 2)
	go func() {
		oversized := store.Channel{Account: "1", Name: strings.Repeat("x", bbolt.MaxKeySize+1)}
		if err := s.CreateChannel(t.Context(), oversized, 0); err == nil {
			done <- errors.New("oversized key accepted")
			return
		}
		done <- nil
	}()
	awaitWriters(t, s, 3)
	close(release)
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	return calls.Load(), updated
}

// awaitWriters polls until n channel writes are in flight, then gives the
// last one a moment to join its batch.
func awaitWriters(t *testing.T, s *Store, n int32) {
	deadline := time.Now().Add(5 * time.Second)
	for s.writers.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes in flight, want %d", s.writers.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
}
