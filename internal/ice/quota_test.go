package ice

import (
	"context"
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
		c.MaxAllocationsPerCredential, c.MaxAllocationsPerChannel = 2, 0
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
