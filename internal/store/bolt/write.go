package bolt

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// result is what one run of a batched channel write reports to its
// caller: the channel written or removed, or the caller-facing refusal
// (exists, limit, not found, a cancelled context, or the error of mutate
// or check). A refusal is not a transaction error, so it never makes the
// rest of the batch run again.
type result struct {
	ch      store.Channel
	refusal error
}

// refused builds the result of a run that writes nothing.
func refused(err error) result { return result{refusal: err} }

// runBatched runs one batched write and returns the result of the run that
// committed. apply reads the current state afresh each time it is run.
// Storage failures are wrapped with what, refusals are returned as they are.
func (s *Store) runBatched(ctx context.Context, what string, apply func(*bbolt.Tx) (result, error)) (store.Channel, error) {
	if err := s.ready(ctx); err != nil {
		return store.Channel{}, err
	}
	var last result // overwritten by every run
	err := s.batch(func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			last = refused(err)
			return nil
		}
		var err error
		last, err = apply(tx)
		return err
	})
	if err != nil {
		return store.Channel{}, fmt.Errorf("bolt: %s: %w", what, err)
	}
	return last.ch, last.refusal
}

// UpdateChannel applies mutate to a fresh copy of the stored channel and
// writes the result in the same transaction. mutate may run more than once
// when the batch it belongs to is retried; only the run that commits counts.
func (s *Store) UpdateChannel(ctx context.Context, account, name string, mutate func(*store.Channel) error) (store.Channel, error) {
	return s.runBatched(ctx, "update channel", func(tx *bbolt.Tx) (result, error) {
		return applyUpdate(tx, account, name, mutate)
	})
}

// applyUpdate is one run of an update.
func applyUpdate(tx *bbolt.Tx, account, name string, mutate func(*store.Channel) error) (result, error) {
	cur, err := readChannel(tx, account, name)
	if errors.Is(err, store.ErrNotFound) {
		return refused(err), nil
	}
	if err != nil {
		return result{}, err
	}
	if err := mutate(&cur); err != nil {
		return refused(err), nil // returned unchanged, as promised
	}
	if cur.Account != account || cur.Name != name {
		return refused(fmt.Errorf("%w (%s/%s became %s/%s)", ErrKeyChanged, account, name, cur.Account, cur.Name)), nil
	}
	val, err := encodeChannel(cur)
	if err != nil {
		return result{}, err
	}
	if err := accountBucket(tx, account).Put([]byte(name), val); err != nil {
		return result{}, fmt.Errorf("bolt: put channel %s/%s: %w", account, name, err)
	}
	// mutate may have kept a reference to the Tags map it was given.
	return result{ch: cur.Clone()}, nil
}

// DeleteChannel removes the channel once check approves it, and returns
// what was removed. check may run more than once, like UpdateChannel's
// mutate.
func (s *Store) DeleteChannel(ctx context.Context, account, name string, check func(store.Channel) error) (store.Channel, error) {
	return s.runBatched(ctx, "delete channel", func(tx *bbolt.Tx) (result, error) {
		res, err := applyDelete(tx, account, name, check)
		if err != nil || res.refusal != nil {
			return res, err
		}
		return res, s.sweepExpired(tx, res.ch.CreatedAt)
	})
}

// applyDelete is one run of a delete. It records the channel's creation
// time for the next create of the name, and the account bucket goes when
// its last channel does.
func applyDelete(tx *bbolt.Tx, account, name string, check func(store.Channel) error) (result, error) {
	cur, err := readChannel(tx, account, name)
	if errors.Is(err, store.ErrNotFound) {
		return refused(err), nil
	}
	if err != nil {
		return result{}, err
	}
	if err := check(cur.Clone()); err != nil {
		return refused(err), nil
	}
	b := accountBucket(tx, account)
	if err := b.Delete([]byte(name)); err != nil {
		return result{}, fmt.Errorf("bolt: delete channel %s/%s: %w", account, name, err)
	}
	if err := recordDeleted(tx, account, []byte(name), cur.CreatedAt); err != nil {
		return result{}, err
	}
	left := b.Sequence() - 1
	if left == 0 {
		if k, _ := b.Cursor().First(); k == nil {
			err = tx.Bucket(bucketAccounts).DeleteBucket([]byte(account))
			return result{ch: cur}, wrapIf(err, "bolt: delete account bucket %s", account)
		}
	}
	return result{ch: cur}, wrapIf(b.SetSequence(left), "bolt: count channels of %s", account)
}

// wrapIf prefixes a non-nil err with a formatted context; nil stays nil.
func wrapIf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
