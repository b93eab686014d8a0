// Package store defines the storage contract for durable Switchboard state:
// signaling channels (with their tags and versions) per account, and named
// server secrets. Backends live in sub-packages (bolt, the embedded default;
// a Redis backend later) and every backend passes the conformance suite in
// storetest.
//
// The package owns the contract only. It knows nothing about the wire
// protocol, validation rules or how versions are minted: callers (the
// channel package) decide what to write, the store makes it atomic and
// durable. An acknowledged write survives a crash of the process.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors every backend returns (wrapped or bare), so that callers
// can test them with errors.Is.
var (
	// ErrNotFound means no channel has that account and name.
	ErrNotFound = errors.New("store: channel not found")
	// ErrExists means a channel with that account and name is already stored.
	ErrExists = errors.New("store: channel already exists")
	// ErrLimitExceeded means the account already holds its maximum number of
	// channels.
	ErrLimitExceeded = errors.New("store: channel limit exceeded")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrCreatedTooEarly means a new channel's CreatedAt is not strictly
	// after that of the last deleted channel with the same account and
	// name. Backends report it as a *CreatedTooEarlyError.
	ErrCreatedTooEarly = errors.New("store: creation time not after that of a deleted channel of the same name")
)

// DeletionRecordHorizon is how long a deletion record must be kept. A
// backend may forget the record of a deleted channel once the record's
// CreatedAt is more than this before the CreatedAt of a channel that the
// backend is later asked to create or delete: its notion of the current
// time comes from the creation times its callers give it, which are read
// from the clock that could step back.
//
// A record only matters while a new creation time could be at or before
// the recorded one, that is, while the clock might step back past it.
// Corrections by NTP are seconds or minutes; the largest steps seen in
// practice are a hardware clock kept in local time being corrected to UTC
// (at most 14 hours) and a virtual machine resumed from an older snapshot
// whose clock is then fixed. A day covers the former with a margin. A step
// back of more than a day lets a re-created channel carry an earlier
// CreationTime than the deleted one, and reuse its ARN only if the two
// fall in the same millisecond. In exchange, deletion records stay bounded
// by the names deleted within a day, instead of growing with every
// distinct name ever deleted (one channel per session is a common
// pattern).
const DeletionRecordHorizon = 24 * time.Hour

// CreatedTooEarlyError is how CreateChannel reports ErrCreatedTooEarly. It
// carries the time a new attempt has to exceed, so that the caller can
// retry once instead of guessing.
type CreatedTooEarlyError struct {
	Account string
	Name    string
	// Deleted is the CreatedAt of the last deleted channel of that account
	// and name.
	Deleted time.Time
}

func (e *CreatedTooEarlyError) Error() string {
	return fmt.Sprintf("store: channel %s/%s: creation time must be after %s, when a deleted channel of that name was created",
		e.Account, e.Name, e.Deleted.UTC().Format(time.RFC3339Nano))
}

// Unwrap makes errors.Is(err, ErrCreatedTooEarly) hold.
func (e *CreatedTooEarlyError) Unwrap() error { return ErrCreatedTooEarly }

// Channel is the stored form of a signaling channel. The pair (Account,
// Name) is its key.
type Channel struct {
	Account    string
	Name       string
	ARN        string
	Type       string
	Status     string
	CreatedAt  time.Time
	MessageTTL int // seconds
	Version    string
	Tags       map[string]string
}

// Clone returns a deep copy, so that callers never share a Tags map.
func (c Channel) Clone() Channel {
	if c.Tags != nil {
		tags := make(map[string]string, len(c.Tags))
		for k, v := range c.Tags {
			tags[k] = v
		}
		c.Tags = tags
	}
	return c
}

// ListOptions selects a page of an account's channels in ascending name
// order.
type ListOptions struct {
	// Prefix keeps only names that begin with it ("" keeps all).
	Prefix string
	// After keeps only names that sort strictly after it ("" starts at the
	// beginning).
	After string
	// Limit is the largest number of channels returned; it must be positive.
	Limit int
}

// Store is the durable channel store. All methods are safe for concurrent
// use and honour context cancellation where the backend can: a method called
// with a context that is already done returns ctx.Err() (possibly wrapped)
// and writes nothing. Values returned by a Store never share memory (such as
// a Tags map or a secret's bytes) with the store or with values passed in.
type Store interface {
	// CreateChannel stores a new channel. It fails with ErrExists when the
	// account already has a channel of that name, and with ErrLimitExceeded
	// when maxPerAccount > 0 and the account already has that many channels.
	//
	// It also fails with a *CreatedTooEarlyError (ErrCreatedTooEarly) when
	// ch.CreatedAt is not strictly after the CreatedAt that DeleteChannel
	// last recorded for the same account and name, unless the backend has
	// let that record expire (DeletionRecordHorizon). Callers derive
	// channel identities (ARNs) from the creation time, so this keeps a
	// re-created channel from taking a deleted one's identity, even after a
	// restart or a step back of the wall clock of up to that horizon.
	//
	// The checks and the write are one atomic step. When several apply,
	// ErrExists is reported first, then ErrLimitExceeded, then
	// ErrCreatedTooEarly.
	CreateChannel(ctx context.Context, ch Channel, maxPerAccount int) error

	// GetChannel returns the channel or ErrNotFound.
	GetChannel(ctx context.Context, account, name string) (Channel, error)

	// ListChannels returns up to opts.Limit channels of the account, in
	// ascending byte order of Name. An account with no channels yields an
	// empty result, not an error; an opts.Limit that is not positive is an
	// error.
	ListChannels(ctx context.Context, account string, opts ListOptions) ([]Channel, error)

	// CountChannels returns how many channels the account has (0 for an
	// account the store has never seen).
	CountChannels(ctx context.Context, account string) (int, error)

	// UpdateChannel reads the channel, passes a copy to mutate, and stores
	// the result, atomically with respect to every other write of that
	// channel. If mutate returns an error nothing is written and the error is
	// returned unchanged. The account and name must not be changed by
	// mutate. It returns the stored channel, or ErrNotFound.
	//
	// A backend may call mutate more than once (for example when it retries
	// a transaction), each time with a fresh copy of the current channel;
	// only the call whose result is written counts. So mutate must be quick,
	// must have no effect outside the *Channel it is given, and must not call
	// the store.
	UpdateChannel(ctx context.Context, account, name string, mutate func(*Channel) error) (Channel, error)

	// DeleteChannel removes the channel after check approves it, atomically
	// with respect to every other write of that channel. If check returns an
	// error nothing is removed and the error is returned unchanged. It
	// returns the removed channel, or ErrNotFound. Like mutate, check may be
	// called more than once, must be quick, and must not call the store.
	//
	// In the same atomic step it records the removed channel's CreatedAt
	// for its account and name, durably, for CreateChannel's check. A
	// backend may forget that record once the name is in use again, since
	// the next delete records a later time, and once it has expired (see
	// DeletionRecordHorizon).
	DeleteChannel(ctx context.Context, account, name string, check func(Channel) error) (Channel, error)

	// Secret returns the secret stored under name, or, when there is none,
	// stores and returns generate()'s value; concurrent callers all get the
	// same value. Secrets survive restarts (TURN credential keys, for example).
	// generate is not called when a value is already stored; when several
	// callers race to create the secret, more than one may call generate but
	// only one value is stored and returned to all of them. If generate fails
	// its error is returned (wrapped or bare) and nothing is stored.
	Secret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error)

	// DeleteSecret removes the secret stored under name, durably; a name
	// with no secret is not an error. A later Secret call for the name
	// stores a new value.
	DeleteSecret(ctx context.Context, name string) error

	// Ping reports whether the store can serve requests (used by /readyz).
	Ping(ctx context.Context) error

	// Close releases the store. It is idempotent: a second Close returns
	// nil. Every other method called after Close fails with ErrClosed.
	Close() error
}
