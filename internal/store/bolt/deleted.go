package bolt

import (
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// The "deleted" bucket keeps, per account and channel name, the CreatedAt
// of the last deleted channel of that name, for as long as the name is
// free. A create must come strictly later (see store.CreatedTooEarlyError).
// Files written before this bucket existed simply lack it: it is created by
// the first delete, and a missing bucket means nothing was deleted since.

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
