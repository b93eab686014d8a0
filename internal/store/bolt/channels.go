package bolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// accountBucket returns the account's bucket, or nil when the account has
// no channels.
func accountBucket(tx *bbolt.Tx, account string) *bbolt.Bucket {
	return tx.Bucket(bucketAccounts).Bucket([]byte(account))
}

// channelKey checks that neither part of a channel's key is empty, which
// bbolt cannot store.
func channelKey(account, name string) error {
	if account == "" || name == "" {
		return fmt.Errorf("%w: account %q, channel name %q", ErrInvalidKey, account, name)
	}
	return nil
}

// notFound is the error for a missing channel.
func notFound(account, name string) error {
	return fmt.Errorf("bolt: channel %s/%s: %w", account, name, store.ErrNotFound)
}

// CreateChannel stores a new channel, refusing a duplicate name
// (store.ErrExists), one channel too many (store.ErrLimitExceeded) or a
// creation time not after that of a deleted channel of the same name
// (store.ErrCreatedTooEarly).
func (s *Store) CreateChannel(ctx context.Context, ch store.Channel, maxPerAccount int) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	if err := channelKey(ch.Account, ch.Name); err != nil {
		return fmt.Errorf("bolt: create channel: %w", err)
	}
	val, err := encodeChannel(ch)
	if err != nil {
		return fmt.Errorf("bolt: create channel: %w", err)
	}
	_, err = s.runBatched(ctx, "create channel", func(tx *bbolt.Tx) (result, error) {
		res, err := insertChannel(tx, ch.Account, []byte(ch.Name), ch.CreatedAt, val, maxPerAccount)
		if err != nil || res.refusal != nil {
			return res, err
		}
		return res, s.sweepExpired(tx, ch.CreatedAt)
	})
	return err
}

// insertChannel is one run of a create: it puts a new channel in its
// account bucket and counts it.
func insertChannel(tx *bbolt.Tx, account string, key []byte, created time.Time, val []byte, maxPerAccount int) (result, error) {
	b := accountBucket(tx, account)
	var count uint64
	if b != nil {
		if b.Get(key) != nil {
			return refused(fmt.Errorf("bolt: channel %s/%s: %w", account, key, store.ErrExists)), nil
		}
		count = b.Sequence()
	}
	if maxPerAccount > 0 && count >= uint64(maxPerAccount) {
		return refused(fmt.Errorf("bolt: account %s has %d channels: %w", account, count, store.ErrLimitExceeded)), nil
	}
	if early, err := checkAfterDeleted(tx, account, key, created); early != nil || err != nil {
		return refused(early), err
	}
	if err := forgetDeleted(tx, account, key); err != nil {
		return result{}, err
	}
	if b == nil {
		var err error
		if b, err = tx.Bucket(bucketAccounts).CreateBucket([]byte(account)); err != nil {
			return result{}, fmt.Errorf("bolt: create account bucket %s: %w", account, err)
		}
	}
	if err := b.Put(key, val); err != nil {
		return result{}, fmt.Errorf("bolt: put channel %s/%s: %w", account, key, err)
	}
	return result{}, wrapIf(b.SetSequence(count+1), "bolt: count channels of %s", account)
}

// GetChannel returns the channel or store.ErrNotFound.
func (s *Store) GetChannel(ctx context.Context, account, name string) (store.Channel, error) {
	if err := s.ready(ctx); err != nil {
		return store.Channel{}, err
	}
	var ch store.Channel
	err := s.view(func(tx *bbolt.Tx) error {
		var err error
		ch, err = readChannel(tx, account, name)
		return err
	})
	if err != nil {
		return store.Channel{}, err
	}
	return ch, nil
}

// readChannel decodes one channel, or returns a wrapped store.ErrNotFound.
func readChannel(tx *bbolt.Tx, account, name string) (store.Channel, error) {
	b := accountBucket(tx, account)
	if b == nil {
		return store.Channel{}, notFound(account, name)
	}
	raw := b.Get([]byte(name))
	if raw == nil {
		return store.Channel{}, notFound(account, name)
	}
	return decodeChannel(account, name, raw)
}

// ListChannels returns a page of the account's channels in ascending name
// order, found with one cursor seek.
func (s *Store) ListChannels(ctx context.Context, account string, opts store.ListOptions) ([]store.Channel, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	if opts.Limit <= 0 {
		return nil, fmt.Errorf("bolt: list channels: limit %d is not positive", opts.Limit)
	}
	var out []store.Channel
	err := s.view(func(tx *bbolt.Tx) error {
		b := accountBucket(tx, account)
		if b == nil {
			return nil
		}
		var err error
		out, err = listPage(b, account, opts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: list channels of %s: %w", account, err)
	}
	return out, nil
}

// listPage walks the account bucket from the first name that can match.
func listPage(b *bbolt.Bucket, account string, opts store.ListOptions) ([]store.Channel, error) {
	prefix, after := []byte(opts.Prefix), []byte(opts.After)
	c := b.Cursor()
	var k, v []byte
	if len(after) > 0 && bytes.Compare(after, prefix) >= 0 {
		// Names with the prefix that sort at or before After are excluded.
		k, v = c.Seek(after)
		if bytes.Equal(k, after) {
			k, v = c.Next()
		}
	} else {
		// Every name with the prefix sorts after After.
		k, v = c.Seek(prefix)
	}
	out := make([]store.Channel, 0, min(opts.Limit, int(b.Sequence())))
	for ; k != nil && len(out) < opts.Limit && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		ch, err := decodeChannel(account, string(k), v)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, nil
}

// CountChannels returns the account's channel count, kept in the account
// bucket's sequence so that it costs no scan.
func (s *Store) CountChannels(ctx context.Context, account string) (int, error) {
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	var n int
	err := s.view(func(tx *bbolt.Tx) error {
		if b := accountBucket(tx, account); b != nil {
			n = int(b.Sequence())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("bolt: count channels of %s: %w", account, err)
	}
	return n, nil
}
