package bolt

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// deletionRecords returns the names with a deletion record, as
// "account/name".
func deletionRecords(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		top := tx.Bucket(bucketDeleted)
		if top == nil {
			return nil
		}
		return top.ForEachBucket(func(acct []byte) error {
			b := top.Bucket(acct)
			if k, _ := b.Cursor().First(); k == nil {
				t.Errorf("empty deletion bucket left for account %s", acct)
			}
			return b.ForEach(func(k, _ []byte) error {
				out[string(acct)+"/"+string(k)] = true
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// createAndDelete stores a channel created at the given time and deletes
// it, which leaves a deletion record.
func createAndDelete(t *testing.T, s *Store, account, name string, created time.Time) {
	t.Helper()
	ch := store.Channel{Account: account, Name: name, CreatedAt: created}
	if err := s.CreateChannel(t.Context(), ch, 0); err != nil {
		t.Fatalf("CreateChannel(%s/%s): %v", account, name, err)
	}
	if _, err := s.DeleteChannel(t.Context(), account, name, func(store.Channel) error { return nil }); err != nil {
		t.Fatalf("DeleteChannel(%s/%s): %v", account, name, err)
	}
}

// TestExpiredDeletionRecordsAreSwept: with one new name per session, the
// deletion records of names deleted longer ago than the horizon go away
// as creates and deletes go on; recent ones stay and still bar an early
// creation time.
func TestExpiredDeletionRecordsAreSwept(t *testing.T) {
	s, _ := openTemp(t, Options{})
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	now := t0.Add(2 * store.DeletionRecordHorizon)
	const old = 100
	for i := range old {
		createAndDelete(t, s, fmt.Sprint(1+i%3), fmt.Sprintf("old-%03d", i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	young := map[string]time.Time{
		"1/young-a": now.Add(-time.Hour),
		"2/young-b": now.Add(-store.DeletionRecordHorizon + time.Second), // just inside the horizon
		"4/young-c": now.Add(-time.Minute),
	}
	for key, created := range young {
		account, name, _ := strings.Cut(key, "/")
		createAndDelete(t, s, account, name, created)
	}
	// Sessions at "now", each with a name of its own.
	for i := range (old+len(young))/sweepBudget + 2 {
		createAndDelete(t, s, "9", fmt.Sprintf("session-%d", i), now.Add(time.Duration(i)*time.Millisecond))
	}
	left := deletionRecords(t, s)
	for key := range left {
		if strings.Contains(key, "/old-") {
			t.Errorf("expired record %s is still there", key)
		}
	}
	for key, created := range young {
		if !left[key] {
			t.Errorf("record %s, created %s before now, was dropped inside the horizon", key, now.Sub(created))
		}
	}
	// A recent record still does its job...
	if err := s.CreateChannel(t.Context(), store.Channel{Account: "1", Name: "young-a", CreatedAt: young["1/young-a"]}, 0); !errors.Is(err, store.ErrCreatedTooEarly) {
		t.Errorf("re-creation at a recent record's time = %v, want ErrCreatedTooEarly", err)
	}
	// ...and an expired one no longer bars the name.
	if err := s.CreateChannel(t.Context(), store.Channel{Account: "1", Name: "old-000", CreatedAt: t0}, 0); err != nil {
		t.Errorf("re-creation after the record expired: %v", err)
	}
}

// TestSweepIsBounded: one write drops at most sweepBudget expired records,
// and the next writes carry on where it stopped until all are gone.
func TestSweepIsBounded(t *testing.T) {
	s, _ := openTemp(t, Options{})
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	const n = 3*sweepBudget + 4
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for i := range n {
			if err := recordDeleted(tx, fmt.Sprint(i%2), fmt.Appendf(nil, "cam-%03d", i), t0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	later := t0.Add(store.DeletionRecordHorizon + time.Hour)
	want := n
	for i := range 4 {
		ch := store.Channel{Account: "7", Name: fmt.Sprintf("live-%d", i), CreatedAt: later}
		if err := s.CreateChannel(t.Context(), ch, 0); err != nil {
			t.Fatal(err)
		}
		want = max(want-sweepBudget, 0)
		if got := len(deletionRecords(t, s)); got != want {
			t.Fatalf("after write %d: %d records left, want %d", i+1, got, want)
		}
	}
}

// TestRefusedWriteDoesNotSweep: a create the store refuses changes
// nothing, expired records included.
func TestRefusedWriteDoesNotSweep(t *testing.T) {
	s, _ := openTemp(t, Options{})
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	createAndDelete(t, s, "1", "gone", t0)
	live := store.Channel{Account: "1", Name: "live", CreatedAt: t0}
	if err := s.CreateChannel(t.Context(), live, 0); err != nil {
		t.Fatal(err)
	}
	live.CreatedAt = t0.Add(2 * store.DeletionRecordHorizon)
	if err := s.CreateChannel(t.Context(), live, 0); !errors.Is(err, store.ErrExists) {
		t.Fatalf("CreateChannel of a taken name = %v, want ErrExists", err)
	}
	if !deletionRecords(t, s)["1/gone"] {
		t.Error("a refused create dropped a deletion record")
	}
}
