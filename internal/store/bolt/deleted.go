package bolt

import (
	"bytes"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// The "deleted" bucket keeps, per account and channel name, the CreatedAt
// of the last deleted channel of that name, while the name is free and the
// record has not expired. A create must come strictly later (see
// store.CreatedTooEarlyError). Files written before this bucket existed
// simply lack it: it is created by the first delete, and a missing bucket
// means nothing was deleted since.
//
// Expiry (store.DeletionRecordHorizon) is lazy and bounded: every create
// and delete that writes examines at most sweepBudget records, resuming
// where the previous one stopped and starting over after the last, and
// drops those more than the horizon older than the creation time it
// writes. Each delete adds at most one record and examines up to
// sweepBudget, so sweeping outpaces growth and the bucket stays near the
// number of names deleted within the horizon. There is no goroutine (the
// package starts none) and no index by time (that would change the
// layout); a name's own create drops its record at once, as before.

// deletedBucket returns the account's bucket of deletion records, or nil.
func deletedBucket(tx *bbolt.Tx, account string) *bbolt.Bucket {
	top := tx.Bucket(bucketDeleted)
	if top == nil {
		return nil
	}
	return top.Bucket([]byte(account))
}

// checkAfterDeleted refuses a creation time that is not after the one
// recorded for the last deleted channel of the same account and name.
func checkAfterDeleted(tx *bbolt.Tx, account string, key []byte, created time.Time) (refusal, err error) {
	b := deletedBucket(tx, account)
	if b == nil {
		return nil, nil
	}
	raw := b.Get(key)
	if raw == nil {
		return nil, nil
	}
	var last time.Time
	if err := last.UnmarshalText(raw); err != nil {
		return nil, fmt.Errorf("%w: deletion record of %s/%s: %w", ErrCorrupt, account, key, err)
	}
	if created.After(last) {
		return nil, nil
	}
	return &store.CreatedTooEarlyError{Account: account, Name: string(key), Deleted: last}, nil
}

// recordDeleted remembers the creation time of a channel being deleted.
func recordDeleted(tx *bbolt.Tx, account string, key []byte, created time.Time) error {
	top, err := tx.CreateBucketIfNotExists(bucketDeleted)
	if err != nil {
		return fmt.Errorf("bolt: create bucket %s: %w", bucketDeleted, err)
	}
	b, err := top.CreateBucketIfNotExists([]byte(account))
	if err != nil {
		return fmt.Errorf("bolt: create deletion bucket %s: %w", account, err)
	}
	raw, err := created.UTC().MarshalText()
	if err != nil {
		return fmt.Errorf("bolt: encode creation time of %s/%s: %w", account, key, err)
	}
	return wrapIf(b.Put(key, raw), "bolt: record deletion of %s/%s", account, key)
}

// forgetDeleted drops the record of a name that is in use again: the
// channel now stored carries a later creation time, which its own delete
// will record. Dropping it keeps the bucket as small as the set of free
// names that were once used.
func forgetDeleted(tx *bbolt.Tx, account string, key []byte) error {
	b := deletedBucket(tx, account)
	if b == nil || b.Get(key) == nil {
		return nil
	}
	if err := b.Delete(key); err != nil {
		return fmt.Errorf("bolt: drop deletion record of %s/%s: %w", account, key, err)
	}
	if k, _ := b.Cursor().First(); k != nil {
		return nil
	}
	return wrapIf(tx.Bucket(bucketDeleted).DeleteBucket([]byte(account)), "bolt: drop deletion bucket %s", account)
}

// sweepBudget is how many deletion records one write examines for expiry.
// Reading a few dozen small keys costs little next to the fsync of the
// commit it rides on.
const sweepBudget = 32

// sweepPos is where the next sweep starts: at the first record whose
// (account, name) is at or after it in key order. The zero value is the
// start of the bucket.
type sweepPos struct {
	account, name []byte
}

// sweepDeleted examines at most budget deletion records from pos on and
// drops those recorded with a CreatedAt before cutoff, and the account
// buckets they leave empty. It returns where the next sweep starts: the
// first record it did not reach, or the zero position when it reached the
// end. A record it cannot decode is left for checkAfterDeleted to report.
func sweepDeleted(tx *bbolt.Tx, pos sweepPos, cutoff time.Time, budget int) (sweepPos, error) {
	top := tx.Bucket(bucketDeleted)
	if top == nil {
		return sweepPos{}, nil
	}
	type record struct{ account, name []byte }
	var expired []record
	var next sweepPos
	accounts := top.Cursor()
	acct, _ := accounts.First()
	if len(pos.account) > 0 {
		acct, _ = accounts.Seek(pos.account)
	}
walk:
	for ; acct != nil; acct, _ = accounts.Next() {
		b := top.Bucket(acct)
		if b == nil {
			continue // not an account bucket: not ours to judge
		}
		names := b.Cursor()
		k, v := names.First()
		if bytes.Equal(acct, pos.account) && len(pos.name) > 0 {
			k, v = names.Seek(pos.name)
		}
		for ; k != nil; k, v = names.Next() {
			if budget <= 0 {
				next = sweepPos{account: bytes.Clone(acct), name: bytes.Clone(k)}
				break walk
			}
			budget--
			var created time.Time
			if v != nil && created.UnmarshalText(v) == nil && created.Before(cutoff) {
				expired = append(expired, record{bytes.Clone(acct), bytes.Clone(k)})
			}
		}
	}
	// Removed after the walk: deleting under a live bbolt cursor can make
	// it skip keys.
	for _, r := range expired {
		b := top.Bucket(r.account)
		if err := b.Delete(r.name); err != nil {
			return sweepPos{}, fmt.Errorf("bolt: drop expired deletion record of %s/%s: %w", r.account, r.name, err)
		}
		if k, _ := b.Cursor().First(); k == nil {
			if err := top.DeleteBucket(r.account); err != nil {
				return sweepPos{}, fmt.Errorf("bolt: drop deletion bucket %s: %w", r.account, err)
			}
		}
	}
	return next, nil
}

// sweepExpired runs one bounded sweep of the deletion records in the
// transaction of a create or delete, taking the creation time of the
// channel written as the current time (the store has no clock of its
// own; see store.DeletionRecordHorizon). The position it keeps is a hint:
// a sweep in a transaction that is then rolled back or retried only makes
// the next one start further on, and records it skipped wait for the next
// round.
func (s *Store) sweepExpired(tx *bbolt.Tx, now time.Time) error {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	next, err := sweepDeleted(tx, s.sweepNext, now.Add(-store.DeletionRecordHorizon), sweepBudget)
	if err != nil {
		return err
	}
	s.sweepNext = next
	return nil
}
