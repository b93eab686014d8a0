package ice

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

const testPeriod = time.Hour

// newTestKeyring returns a keyring on secrets, rotating every hour, with
// its clock at the start of a period plus a minute, refreshed once.
func newTestKeyring(t *testing.T, secrets *memSecrets, clock *fakeClock) *keyring {
	t.Helper()
	k := newKeyring(secrets, testPeriod, clock.Now, slog.New(slog.DiscardHandler))
	if err := k.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return k
}

// startOfPeriodClock returns a clock a minute into an hour.
func startOfPeriodClock() *fakeClock {
	clock := newFakeClock()
	now := time.Now()
	clock.Set(now.Truncate(testPeriod).Add(testPeriod + time.Minute).Sub(now))
	return clock
}

// mintWith mints a credential for a viewer with k's current key.
func mintWith(t *testing.T, k *keyring, expiry time.Time) (credential, []byte) {
	t.Helper()
	start, key, err := k.mintKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, mintUsername(expiry, start, newScope(testAccount, testARN, "viewer"))), key
}

func (s *memSecrets) names() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for name := range s.m {
		out[name] = true
	}
	return out
}

// TestKeyRotation follows one key through its life: current, previous,
// retired. A credential with a far expiry, as a holder of a leaked key
// would write, is refused once its key has retired.
func TestKeyRotation(t *testing.T) {
	clock := startOfPeriodClock()
	secrets := &memSecrets{}
	k := newTestKeyring(t, secrets, clock)
	cred, key := mintWith(t, k, clock.Now().Add(30*24*time.Hour))
	if got, ok := k.verifyKey(cred); !ok || !bytes.Equal(got, key) {
		t.Fatal("current key refused")
	}

	clock.Advance(testPeriod)
	if err := k.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	next, nextKey := mintWith(t, k, clock.Now().Add(time.Minute))
	if next.KeyStart != cred.KeyStart+3600 || bytes.Equal(nextKey, key) {
		t.Fatalf("after a period: minted with the key of %d (same bytes: %v), want a new key of %d",
			next.KeyStart, bytes.Equal(nextKey, key), cred.KeyStart+3600)
	}
	if _, ok := k.verifyKey(cred); !ok {
		t.Fatal("the previous period's key refused: credentials minted just before the turn would fail")
	}

	clock.Advance(testPeriod)
	if _, ok := k.verifyKey(cred); ok {
		t.Fatal("a key two periods old accepted before any refresh")
	}
	if err := k.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.verifyKey(cred); ok {
		t.Fatal("a key two periods old accepted")
	}
	if _, ok := k.verifyKey(next); !ok {
		t.Fatal("the previous key refused after the second turn")
	}
	if names := secrets.names(); names[keyName(cred.KeyStart)] || !names[keyName(next.KeyStart)] {
		t.Fatalf("store names after the second turn %v: want the retired key deleted and the previous one kept", names)
	}
}

// TestKeyringNodesAgree runs two keyrings on one store, as two nodes of
// a cluster would: they mint with the same key, and one whose clock runs
// ahead mints with a key the other already holds.
func TestKeyringNodesAgree(t *testing.T) {
	secrets := &memSecrets{}
	clock := startOfPeriodClock()
	a := newTestKeyring(t, secrets, clock)
	b := newTestKeyring(t, secrets, clock)
	credA, keyA := mintWith(t, a, clock.Now().Add(time.Minute))
	if got, ok := b.verifyKey(credA); !ok || !bytes.Equal(got, keyA) {
		t.Fatal("a credential of node A refused by node B")
	}

	// Ten seconds before the turn, a node whose clock is 20 s ahead.
	clock.Advance(testPeriod - 70*time.Second)
	ahead := newFakeClock()
	ahead.Set(time.Duration(clock.offset.Load()) + 20*time.Second)
	c := newKeyring(secrets, testPeriod, ahead.Now, slog.New(slog.DiscardHandler))
	credC, _ := mintWith(t, c, ahead.Now().Add(time.Minute))
	if credC.KeyStart != credA.KeyStart+3600 {
		t.Fatalf("node ahead minted with the key of %d, want the next period's %d", credC.KeyStart, credA.KeyStart+3600)
	}
	if _, ok := a.verifyKey(credC); !ok {
		t.Fatal("node A refused the next period's key, which its refresh loaded")
	}
}

// downSecrets is a SecretStore that fails while down is set.
type downSecrets struct {
	memSecrets
	down atomic.Bool
}

func (s *downSecrets) Secret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	if s.down.Load() {
		return nil, errors.New("store down")
	}
	return s.memSecrets.Secret(ctx, name, generate)
}

// TestKeyringAtTheTurn covers the turn of a period: a credential minted
// a second before it, before the keyring's first refresh, still verifies
// after that refresh; and a node whose store went down just before the
// next turn (its refresh loop failing from then on, as a lagging one
// has not run) mints with the new key and verifies it and the previous
// one from memory.
func TestKeyringAtTheTurn(t *testing.T) {
	secrets := &downSecrets{}
	clock := startOfPeriodClock()
	clock.Advance(testPeriod - 61*time.Second) // a second before the turn
	k := newKeyring(secrets, testPeriod, clock.Now, slog.New(slog.DiscardHandler))
	early, _ := mintWith(t, k, clock.Now().Add(5*time.Minute))
	clock.Advance(2 * time.Second)
	if err := k.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.verifyKey(early); !ok {
		t.Fatal("a credential minted just before the turn and the first refresh refused after them")
	}

	clock.Advance(testPeriod - 30*time.Second) // half a minute before the next turn
	if err := k.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	secrets.down.Store(true)
	clock.Advance(time.Minute) // past it
	if err := k.refresh(context.Background()); err == nil {
		t.Fatal("a refresh on a store that is down succeeded")
	}
	minted, _ := mintWith(t, k, clock.Now().Add(5*time.Minute))
	if want := early.KeyStart + 2*3600; minted.KeyStart != want {
		t.Fatalf("minted with the key of %d, want %d", minted.KeyStart, want)
	}
	previous := mustParse(t, mintUsername(clock.Now().Add(time.Minute), early.KeyStart+3600, newScope(testAccount, testARN, "v")))
	for _, c := range []credential{minted, previous} {
		if _, ok := k.verifyKey(c); !ok {
			t.Fatalf("the key of %d refused by a node whose refresh failed since the turn", c.KeyStart)
		}
	}
}

// TestKeyringStoresNothingForStrangers checks that a username naming a
// period whose key does not exist makes no key: usernames are read
// before anyone is authenticated.
func TestKeyringStoresNothingForStrangers(t *testing.T) {
	secrets := &memSecrets{}
	clock := startOfPeriodClock()
	k := newTestKeyring(t, secrets, clock)
	before := secrets.names()
	previous := k.periodStart(clock.Now()) - 3600
	stranger := mustParse(t, mintUsername(clock.Now().Add(time.Minute), previous, newScope(testAccount, testARN, "x")))
	if _, ok := k.verifyKey(stranger); ok {
		t.Fatal("a credential of a period without a key accepted")
	}
	if err := k.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := secrets.names(); len(after) != len(before) || after[keyName(previous)] {
		t.Fatalf("store names %v, were %v", after, before)
	}
	if len(before) != 2 || !before[keyName(previous+3600)] || !before[keyName(previous+7200)] {
		t.Fatalf("a refresh stored %v, want the current and next periods' keys only", before)
	}
}

// TestLegacyKeyServesOneLastDay upgrades a store written before keys
// rotated: credentials of its single key stay valid until a day after
// the first start with rotation, and a later restart does not extend
// that day.
func TestLegacyKeyServesOneLastDay(t *testing.T) {
	legacyKey := []byte("0123456789abcdef0123456789abcdef")
	secrets := &memSecrets{m: map[string][]byte{SecretName: legacyKey}}
	clock := startOfPeriodClock()
	upgradedAt := clock.Now()
	k := newTestKeyring(t, secrets, clock)
	legacy := func(expiry time.Time) credential {
		return mustParse(t, mintUsername(expiry, 0, newScope(testAccount, testARN, "viewer")))
	}
	if got, ok := k.verifyKey(legacy(upgradedAt.Add(5 * time.Minute))); !ok || !bytes.Equal(got, legacyKey) {
		t.Fatal("a credential minted before the upgrade refused")
	}
	if _, ok := k.verifyKey(legacy(upgradedAt.Add(25 * time.Hour))); ok {
		t.Fatal("a legacy credential expiring after the last day accepted")
	}

	clock.Advance(12 * time.Hour)
	restarted := newTestKeyring(t, secrets, clock)
	if _, ok := restarted.verifyKey(legacy(upgradedAt.Add(23 * time.Hour))); !ok {
		t.Fatal("the last day lost at a restart")
	}
	if _, ok := restarted.verifyKey(legacy(clock.Now().Add(23 * time.Hour))); ok {
		t.Fatal("a restart extended the last day")
	}

	// The first turn after the last day deletes the v1 key.
	clock.Advance(12*time.Hour + testPeriod)
	if err := restarted.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if names := secrets.names(); names[SecretName] || names[legacyUntilName] {
		t.Fatalf("store names a day after the upgrade %v: want the v1 key and its deadline deleted", names)
	}
}

// TestDamagedLegacyDeadline checks that a v1 deadline of the wrong size
// refuses v1 credentials and does not stop the relay from starting.
func TestDamagedLegacyDeadline(t *testing.T) {
	secrets := &memSecrets{m: map[string][]byte{
		SecretName:      []byte("0123456789abcdef0123456789abcdef"),
		legacyUntilName: []byte("garbage"),
	}}
	clock := startOfPeriodClock()
	k := newTestKeyring(t, secrets, clock)
	if _, ok := k.verifyKey(mustParse(t, mintUsername(clock.Now().Add(time.Minute), 0, newScope(testAccount, testARN, "v")))); ok {
		t.Fatal("a v1 credential accepted with a damaged deadline")
	}
	if _, _, err := k.mintKey(context.Background()); err != nil {
		t.Fatalf("minting after a damaged deadline: %v", err)
	}
}

// TestLegacyDeadlineWrittenAhead upgrades while the clock runs a year
// ahead (a machine that booted with a wrong clock, say), which stores a
// v1 deadline a year away. Once the clock is right again, v1 credentials
// must be refused, by the node that stored it and by a restarted one:
// otherwise the old key, in every database backup, would serve a year.
func TestLegacyDeadlineWrittenAhead(t *testing.T) {
	secrets := &memSecrets{m: map[string][]byte{SecretName: []byte("0123456789abcdef0123456789abcdef")}}
	clock := startOfPeriodClock()
	clock.Advance(365 * 24 * time.Hour)
	ahead := newTestKeyring(t, secrets, clock)
	clock.Advance(-365 * 24 * time.Hour)
	restarted := newTestKeyring(t, secrets, clock)
	cred := mustParse(t, mintUsername(clock.Now().Add(5*time.Minute), 0, newScope(testAccount, testARN, "viewer")))
	if _, ok := ahead.verifyKey(cred); ok {
		t.Error("the node that upgraded ahead accepts v1 credentials once its clock is right")
	}
	if _, ok := restarted.verifyKey(cred); ok {
		t.Error("a node started with the right clock accepts v1 credentials until a deadline a year away")
	}
}

// TestNoLegacyKeyNoLegacyCredentials checks that a fresh store accepts
// no layout v1 credential and stores no deadline for them.
func TestNoLegacyKeyNoLegacyCredentials(t *testing.T) {
	secrets := &memSecrets{}
	clock := startOfPeriodClock()
	k := newTestKeyring(t, secrets, clock)
	if _, ok := k.verifyKey(mustParse(t, mintUsername(clock.Now().Add(time.Minute), 0, newScope(testAccount, testARN, "v")))); ok {
		t.Fatal("a layout v1 credential accepted without a v1 key")
	}
	if secrets.names()[legacyUntilName] {
		t.Fatal("a deadline stored for a key that does not exist")
	}
}

// forgeWithStolenKey starts a relay whose keys turn every testPeriod,
// reads the key in service from its store as a thief would, and forges
// with it a credential for a client of its own that expires in a month.
// It returns the relay, the forged username and password, and the start
// of the stolen key's period.
func forgeWithStolenKey(t *testing.T) (h *harness, username, password string, keyStart int64) {
	t.Helper()
	secrets := &memSecrets{}
	h = startService(t, testConfig(func(c *Config) { c.SecretRotation = Duration(testPeriod) }),
		func(d *Deps) { d.Secrets = secrets })
	user, _ := h.credentials(t, testARN, "viewer")
	keyStart = mustParse(t, user).KeyStart
	stolen, err := secrets.Secret(context.Background(), keyName(keyStart), nil)
	if err != nil {
		t.Fatal(err)
	}
	username = mintUsername(h.clock.Now().Add(30*24*time.Hour), keyStart, newScope(testAccount, testARN, "thief"))
	return h, username, turnPassword(stolen, username), keyStart
}

// TestRetiredKeyRefusedOverTURN forges, with a key read from the store as
// a thief would, a credential that expires in a month: the real TURN
// server takes it while the key is in service and refuses it once the
// key has retired, counting the refusal as retired_key.
func TestRetiredKeyRefusedOverTURN(t *testing.T) {
	h, forged, password, _ := forgeWithStolenKey(t)
	if _, code := dialRawTURN(t, "udp", h.svc.Addrs().UDP, forged, password).allocate(17, false); code != 0 {
		t.Fatalf("credential of the key in service: error %d", code)
	}

	h.clock.Advance(2 * testPeriod)
	if err := h.svc.keys.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, code := dialRawTURN(t, "udp", h.svc.Addrs().UDP, forged, password).allocate(17, false)
	if code != int(stun.CodeUnauthorized) {
		t.Fatalf("credential of a retired key: error %d, want 401", code)
	}
	if h.counter(t, "switchboard_turn_credential_failures_total", "reason", credRetiredKey) != 1 {
		t.Fatal("refusal not counted as retired_key")
	}
	user, pass := h.credentials(t, testARN, "viewer")
	if _, code := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass).allocate(17, false); code != 0 {
		t.Fatalf("a fresh credential after two turns: error %d", code)
	}
}

// TestRetiredKeyEndsAllocations forges, with a stolen key, a credential
// that expires in a month and allocates with it two seconds before the
// key retires: the allocation must end with the key. Its Refreshes are
// refused from then on, but without this end it would live, and relay,
// for the rest of the lifetime pion granted: up to an hour.
func TestRetiredKeyEndsAllocations(t *testing.T) {
	h, forged, password, start := forgeWithStolenKey(t)
	retires := time.Unix(start, 0).Add(2 * testPeriod)
	h.clock.Set(time.Until(retires.Add(-2 * time.Second)))
	if err := h.svc.keys.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := dialRawTURN(t, "udp", h.svc.Addrs().UDP, forged, password)
	if _, code := c.allocate(17, false); code != 0 {
		t.Fatalf("allocation with the key still in service: error %d", code)
	}
	waitFor(t, 10*time.Second, "the allocation to end with its key", func() bool {
		return h.counter(t, "switchboard_turn_allocations") == 0
	})
}

// TestRunRefusesToServeWithoutKeys starts the relay on a store that
// fails: Run must return the error at once, before any listener opens
// or any goroutine starts, rather than serve a relay that refuses every
// credential.
func TestRunRefusesToServeWithoutKeys(t *testing.T) {
	svc := newProvider(t, testConfig(), Deps{Secrets: failingSecrets{}})
	before := runtime.NumGoroutine()
	err := svc.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "TURN credential keys") {
		t.Fatalf("Run: %v, want the keys' error", err)
	}
	select {
	case <-svc.Ready():
		t.Fatal("Ready closed by a Run that failed")
	default:
	}
	if svc.Addrs() != (Addrs{}) || runtime.NumGoroutine() > before {
		t.Fatalf("a failed Run left listeners %+v or goroutines (%d, were %d)", svc.Addrs(), runtime.NumGoroutine(), before)
	}
}

// TestRevokeKeys mints a credential, revokes the keys as the
// revoke-turn-keys command does with the server stopped, and starts
// again: the credential is refused, and new ones are minted with a new
// key. A v1 key goes too.
func TestRevokeKeys(t *testing.T) {
	secrets := &memSecrets{m: map[string][]byte{SecretName: []byte("0123456789abcdef0123456789abcdef")}}
	clock := startOfPeriodClock()
	before := newTestKeyring(t, secrets, clock)
	cred, key := mintWith(t, before, clock.Now().Add(5*time.Minute))
	legacy := mustParse(t, mintUsername(clock.Now().Add(5*time.Minute), 0, newScope(testAccount, testARN, "v")))
	if _, ok := before.verifyKey(legacy); !ok {
		t.Fatal("the v1 key was not in service before the revocation")
	}
	if err := RevokeKeys(context.Background(), secrets, testPeriod, clock.Now()); err != nil {
		t.Fatal(err)
	}
	after := newTestKeyring(t, secrets, clock)
	password := turnPassword(key, cred.Username)
	if got, ok := after.verifyKey(cred); ok && checkPassword(got, cred.Username, password) {
		t.Fatal("a credential minted before the revocation accepted after a restart")
	}
	if _, ok := after.verifyKey(legacy); ok {
		t.Fatal("a v1 credential accepted after the revocation")
	}
	fresh, freshKey := mintWith(t, after, clock.Now().Add(5*time.Minute))
	if fresh.KeyStart != cred.KeyStart || bytes.Equal(freshKey, key) {
		t.Fatal("after the revocation, the period's credentials are signed with the old key")
	}
}
