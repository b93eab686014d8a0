package ice

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// credentialsOf mints a credential for a client of a channel of account,
// through IceServers as GetIceServerConfig does.
func (h *harness) credentialsOf(t testing.TB, account, arn, clientID string) (string, string) {
	t.Helper()
	p := auth.Principal{Account: account, AccessKeyID: "AKID" + account}
	ch := store.Channel{Account: account, ARN: arn, Status: kvsapi.ChannelStatusActive}
	servers, err := h.svc.IceServers(context.Background(), p, ch, clientID)
	if err != nil {
		t.Fatal(err)
	}
	return servers[0].Username, servers[0].Password
}

// freshCredentials is a client calling GetIceServerConfig again: a second
// later, so that the expiry and with it the username are new.
func (h *harness) freshCredentials(t testing.TB, seen map[string]bool, account, arn, clientID string) (string, string) {
	t.Helper()
	h.clock.Advance(time.Second)
	user, pass := h.credentialsOf(t, account, arn, clientID)
	if seen[user] {
		t.Fatalf("GetIceServerConfig gave the same username twice: %s", user)
	}
	seen[user] = true
	return user, pass
}

// TestCredentialQuotaBoundsRefetchingClient: a client that fetches new
// credentials before each allocation still meets
// turn.max_allocations_per_credential, which counts the client of the
// channel, not the username; another client of the channel is not
// affected.
func TestCredentialQuotaBoundsRefetchingClient(t *testing.T) {
	h := startService(t, testConfig(func(c *Config) {
		c.MaxAllocationsPerCredential, c.MaxAllocationsPerChannel, c.MaxAllocationsPerAccount = 2, 0, 0
	}))
	seen := map[string]bool{}
	for i := range 2 {
		user, pass := h.freshCredentials(t, seen, testAccount, testARN, "viewer-1")
		if _, code := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass).allocate(17, false); code != 0 {
			t.Fatalf("allocation %d: error %d", i+1, code)
		}
	}
	user, pass := h.freshCredentials(t, seen, testAccount, testARN, "viewer-1")
	if _, code := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass).allocate(17, false); code != int(stun.CodeAllocQuotaReached) {
		t.Fatalf("3rd allocation of one client with fresh credentials and a cap of 2: error %d, want 486", code)
	}
	if got := h.counter(t, "switchboard_turn_refusals_total", "reason", reasonQuotaCredential); got != 1 {
		t.Fatalf("credential quota refusals counted: %v, want 1", got)
	}
	user, pass = h.freshCredentials(t, seen, testAccount, testARN, "viewer-2")
	if _, code := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass).allocate(17, false); code != 0 {
		t.Fatalf("another client of the channel: error %d", code)
	}
}

// TestAccountQuota fills turn.max_allocations_per_account with the
// allocations of two channels of one account: one more, on either
// channel, is refused with 486, counted as quota_account and logged with
// the setting's name, while another account allocates as before; a freed
// allocation gives its slot back.
func TestAccountQuota(t *testing.T) {
	const otherAccount = "444455556666"
	thirdARN := "arn:aws:kinesisvideo:us-west-2:" + otherAccount + ":channel/cam-3/1700000000002"
	logs := &lockedBuffer{}
	logger := func(d *Deps) {
		d.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h := startService(t, testConfig(func(c *Config) {
		c.MaxAllocationsPerCredential, c.MaxAllocationsPerChannel, c.MaxAllocationsPerAccount = 0, 0, 3
	}), logger)
	server := h.svc.Addrs().UDP
	allocate := func(account, arn, client string) int {
		user, pass := h.credentialsOf(t, account, arn, client)
		_, code := dialRawTURN(t, "udp", server, user, pass).allocate(17, false)
		return code
	}

	var first *rawTURN
	for i, arn := range []string{testARN, testARN, otherARN} {
		user, pass := h.credentialsOf(t, testAccount, arn, "viewer-"+string(rune('a'+i)))
		c := dialRawTURN(t, "udp", server, user, pass)
		if _, code := c.allocate(17, false); code != 0 {
			t.Fatalf("allocation %d of the account: error %d", i+1, code)
		}
		if first == nil {
			first = c
		}
	}
	for _, arn := range []string{otherARN, testARN} {
		if code := allocate(testAccount, arn, "one-too-many"); code != int(stun.CodeAllocQuotaReached) {
			t.Fatalf("4th allocation of the account (on %s) with a cap of 3: error %d, want 486", arn, code)
		}
	}
	if got := h.counter(t, "switchboard_turn_refusals_total", "reason", reasonQuotaAccount); got != 2 {
		t.Fatalf("account quota refusals counted: %v, want 2", got)
	}
	if !bytes.Contains(logs.Bytes(), []byte("setting=turn.max_allocations_per_account")) {
		t.Fatalf("the refusal log does not name the setting:\n%s", logs.Bytes())
	}
	for i := range 3 {
		if code := allocate(otherAccount, thirdARN, "viewer-"+string(rune('a'+i))); code != 0 {
			t.Fatalf("allocation %d of another account: error %d", i+1, code)
		}
	}

	if code := first.refresh(0); code != 0 {
		t.Fatalf("deallocate: %d", code)
	}
	waitFor(t, 5*time.Second, "the account's slot to be released", func() bool {
		user, _ := h.credentialsOf(t, testAccount, testARN, "x")
		_, _, n := h.svc.quotas.live(mustParse(t, user))
		return n == 2
	})
	if code := allocate(testAccount, otherARN, "after-release"); code != 0 {
		t.Fatalf("after a deallocation: error %d", code)
	}
}

// lockedBuffer is a log sink the server's goroutines may write to while
// the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

// TestDefaultQuotasAdmitAFullRelayedChannel: with the default caps, a
// channel at the signaling hub's default viewer limit, every
// PeerConnection relayed on both sides, gets every allocation it asks
// for. A peer allocates once per TURN URI of the first entry (up to
// maxURIsPerEntry); the master has a PeerConnection per viewer, all on
// its one credential scope, and each viewer has its own.
func TestDefaultQuotasAdmitAFullRelayedChannel(t *testing.T) {
	const viewers = 10 // signaling's default max_viewers_per_channel
	h := startService(t, testConfig())
	allocate := func(clientID string, n int) {
		t.Helper()
		user, pass := h.credentialsOf(t, testAccount, testARN, clientID)
		for i := range n {
			if _, code := dialRawTURN(t, "udp", h.svc.Addrs().UDP, user, pass).allocate(17, false); code != 0 {
				t.Fatalf("client %q, allocation %d of %d: error %d", clientID, i+1, n, code)
			}
		}
	}
	allocate("", viewers*maxURIsPerEntry) // the master
	for v := range viewers {
		allocate(fmt.Sprintf("viewer-%d", v), maxURIsPerEntry)
	}
}
