package ice

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// The embedded relay's credential keys rotate. Time is cut into periods of
// turn.secret_rotation, counted from the Unix epoch, and each period has a
// random key of its own, kept in the store under keyName(start). Every node
// that shares the store computes the same periods and gets the same key
// (the store's get-or-create is atomic), so no node has to tell another
// that the key changed.
//
// A credential carries the start of its key's period in its username
// (layout v2, see credentials.go). The relay accepts a key while its
// period is the current one, the one before (a credential minted just
// before the turn lives for up to credential_ttl, which is at most one
// period) or the one after (a node whose clock runs a little ahead). A key
// that leaks is therefore good for at most three periods, whatever expiry
// its holder writes into the usernames it forges.
//
// Credentials minted before rotation existed (layout v1) were signed with
// the single key stored under SecretName. They are accepted until the
// longest credential lifetime has passed since the first start that had
// rotation, a moment kept in the store, so that an upgrade does not refuse
// credentials that clients hold, and a leaked old key stops working a day
// later. A moment more than a day ahead of the node's clock was written by
// a clock that ran ahead, and v1 credentials are then refused.

// SecretName is the store name of the key of layout v1 credentials, from
// before keys rotated.
const SecretName = "turn-hmac"

const (
	secretBytes       = 32
	keyNamePrefix     = SecretName + "/"
	legacyUntilName   = SecretName + "-v1-until"
	keyRefreshEvery   = time.Minute
	maxSecretRotation = 366 * 24 * time.Hour
	// legacySkew is how far ahead of this node's clock the v1 deadline
	// may have been written (by a node whose clock ran ahead) and still
	// be believed.
	legacySkew = 5 * time.Minute
)

// errAbsent makes a store lookup read-only: the generator refuses, so
// nothing is stored when the name is absent.
var errAbsent = errors.New("ice: no such key")

// keyName is the store name of the key of the period starting at start
// (Unix seconds).
func keyName(start int64) string { return keyNamePrefix + strconv.FormatInt(start, 10) }

// keyring keeps the keys of the current, previous and next periods in
// memory, so that the TURN server's checks never wait for the store.
type keyring struct {
	secrets SecretStore
	period  int64 // seconds
	now     func() time.Time
	log     *slog.Logger

	mu          sync.Mutex
	keys        map[int64][]byte // by period start
	legacy      []byte           // the v1 key, nil when there is none
	legacyUntil time.Time        // v1 credentials expiring later are refused
	current     int64            // start of the period last seen by refresh
}

func newKeyring(secrets SecretStore, period time.Duration, now func() time.Time, log *slog.Logger) *keyring {
	return &keyring{secrets: secrets, period: int64(period / time.Second), now: now, log: log, keys: map[int64][]byte{}}
}

// periodStart returns the start of the period holding t.
func (k *keyring) periodStart(t time.Time) int64 {
	s := t.Unix()
	return s - s%k.period
}

// mintKey returns the key to mint with now and its period's start,
// creating the key when no node has yet.
func (k *keyring) mintKey(ctx context.Context) (int64, []byte, error) {
	start := k.periodStart(k.now())
	k.mu.Lock()
	key := k.keys[start]
	k.mu.Unlock()
	if key != nil {
		return start, key, nil
	}
	key, err := k.secrets.Secret(ctx, keyName(start), newKey)
	if err != nil {
		return 0, nil, err
	}
	k.mu.Lock()
	k.keys[start] = key
	k.mu.Unlock()
	return start, key, nil
}

// verifyKey returns the key that signed cred, or false when that key is
// retired or unknown. It never calls the store.
func (k *keyring) verifyKey(cred credential) ([]byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if cred.KeyStart == 0 {
		return k.legacy, k.legacyValid(cred, now)
	}
	current := k.periodStart(now)
	if cred.KeyStart < current-k.period || cred.KeyStart > current+k.period {
		return nil, false
	}
	key := k.keys[cred.KeyStart]
	return key, key != nil
}

// validUntil returns when cred stops being accepted: at its expiry, or
// when its key retires (two periods after its own began), whichever comes
// first. A layout v1 credential is accepted only with an expiry before the
// v1 deadline, so its expiry is the bound.
func (k *keyring) validUntil(cred credential) time.Time {
	if cred.KeyStart == 0 {
		return cred.Expiry
	}
	retired := time.Unix(cred.KeyStart+2*k.period, 0)
	if retired.Before(cred.Expiry) {
		return retired
	}
	return cred.Expiry
}

// legacyValid reports whether a layout v1 credential may be checked
// against the v1 key: one exists, and the credential expires by the v1
// deadline. A deadline further ahead than a first start now would have
// written was written by a clock that ran ahead; believing it would keep
// the old key in service until that clock's date, so none is accepted.
// Called with k.mu held.
func (k *keyring) legacyValid(cred credential, now time.Time) bool {
	if k.legacy == nil || cred.Expiry.After(k.legacyUntil) {
		return false
	}
	return !k.legacyUntil.After(now.Add(maxCredentialTTL + legacySkew))
}

// refresh creates the keys of the current and next periods, loads the
// previous one if it exists, and forgets older ones. The first call, and
// the first after each turn, also delete from the store the key that has
// just retired (a key that retired while no node ran stays, refused), and
// the v1 key once its deadline has passed. The first call also loads the
// v1 key and its deadline.
func (k *keyring) refresh(ctx context.Context) error {
	now := k.now()
	current := k.periodStart(now)
	fresh := map[int64][]byte{}
	for _, start := range []int64{current, current + k.period} {
		key, err := k.secrets.Secret(ctx, keyName(start), newKey)
		if err != nil {
			return err
		}
		fresh[start] = key
	}
	previous, err := k.load(ctx, keyName(current-k.period))
	if err != nil {
		return err
	}
	if previous != nil {
		fresh[current-k.period] = previous
	}
	k.mu.Lock()
	first, rotated := k.current == 0, k.current != 0 && k.current != current
	k.keys, k.current = fresh, current
	k.mu.Unlock()
	if rotated {
		k.log.Info("turn: credential key rotated", "period_start", time.Unix(current, 0).UTC())
	}
	if !first && !rotated {
		return nil
	}
	if err := k.secrets.DeleteSecret(ctx, keyName(current-2*k.period)); err != nil {
		return err
	}
	if first {
		if err := k.loadLegacy(ctx, now); err != nil {
			return err
		}
	}
	return k.dropExpiredLegacy(ctx, now)
}

// dropExpiredLegacy deletes the v1 key and its deadline from the store
// once the deadline has passed: nothing it signed is accepted any more.
func (k *keyring) dropExpiredLegacy(ctx context.Context, now time.Time) error {
	k.mu.Lock()
	expired := k.legacy != nil && now.After(k.legacyUntil)
	k.mu.Unlock()
	if !expired {
		return nil
	}
	for _, name := range []string{SecretName, legacyUntilName} {
		if err := k.secrets.DeleteSecret(ctx, name); err != nil {
			return err
		}
	}
	k.mu.Lock()
	k.legacy = nil
	k.mu.Unlock()
	k.log.Info("turn: the credential key from before rotation is deleted; its last credentials have expired")
	return nil
}

// loadLegacy loads the v1 key, if the store has one, and the moment after
// which v1 credentials are refused: the longest credential lifetime after
// the first start with rotation.
func (k *keyring) loadLegacy(ctx context.Context, now time.Time) error {
	legacy, err := k.load(ctx, SecretName)
	if err != nil || legacy == nil {
		return err
	}
	stamp, err := k.secrets.Secret(ctx, legacyUntilName, func() ([]byte, error) {
		return binary.BigEndian.AppendUint64(nil, uint64(now.Add(maxCredentialTTL).Unix())), nil
	})
	if err != nil {
		return err
	}
	if len(stamp) != 8 {
		k.log.Warn("turn: credentials from before key rotation are refused: their stored deadline is damaged",
			"name", legacyUntilName, "bytes", len(stamp))
		return nil
	}
	k.mu.Lock()
	k.legacy, k.legacyUntil = legacy, time.Unix(int64(binary.BigEndian.Uint64(stamp)), 0)
	k.mu.Unlock()
	return nil
}

// load returns the stored secret under name, or nil when there is none.
func (k *keyring) load(ctx context.Context, name string) ([]byte, error) {
	v, err := k.secrets.Secret(ctx, name, func() ([]byte, error) { return nil, errAbsent })
	if errors.Is(err, errAbsent) {
		return nil, nil
	}
	return v, err
}

// run refreshes the keys every minute until ctx ends, so that the next
// period's key is in memory long before it is needed. A failed refresh is
// logged and tried again at the next tick; the keys in memory stay valid.
func (k *keyring) run(ctx context.Context) {
	tick := time.NewTicker(keyRefreshEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := k.refresh(ctx); err != nil && ctx.Err() == nil {
				k.log.Warn("turn: credential keys not refreshed; retrying in a minute", "err", err)
			}
		}
	}
}

func newKey() ([]byte, error) {
	b := make([]byte, secretBytes)
	_, err := rand.Read(b)
	return b, err
}

// RevokeKeys deletes from secrets every key the relay would accept now:
// the keys of the period holding now and of the periods on either side
// (with turn.secret_rotation as rotation), and the key of layout v1
// credentials with its deadline. Every credential minted so far is then
// refused, and the next start makes new keys. It is meant for a store no
// running relay holds in memory, that is with the server stopped: a
// running keyring would keep verifying with the keys it loaded.
func RevokeKeys(ctx context.Context, secrets SecretStore, rotation time.Duration, now time.Time) error {
	k := newKeyring(secrets, rotation, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	current := k.periodStart(now)
	names := []string{SecretName, legacyUntilName}
	for _, start := range []int64{current - k.period, current, current + k.period} {
		names = append(names, keyName(start))
	}
	for _, name := range names {
		if err := secrets.DeleteSecret(ctx, name); err != nil {
			return fmt.Errorf("ice: revoke TURN keys: %w", err)
		}
	}
	return nil
}
