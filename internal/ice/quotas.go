package ice

import (
	"sync"

	"golang.org/x/time/rate"
)

// Reasons an allocation is refused by quota.
const (
	reasonQuotaCredential = "quota_credential"
	reasonQuotaChannel    = "quota_channel"
	reasonQuotaAccount    = "quota_account"
)

// quotaSettings names the setting behind each quota refusal, for the log.
var quotaSettings = map[string]string{
	reasonQuotaCredential: keyPrefix + "max_allocations_per_credential",
	reasonQuotaChannel:    keyPrefix + "max_allocations_per_channel",
	reasonQuotaAccount:    keyPrefix + "max_allocations_per_account",
}

// quotas counts live allocations per credential, per channel and per
// account. A count is taken when the relay socket is opened and given back
// when it closes, so it follows the allocation's real lifetime whatever
// ends it (refresh to zero, expiry, client gone, shutdown).
//
// "Per credential" counts by the credential's scope (account, channel,
// ClientId), not by its username: GetIceServerConfig mints a new username
// (a new expiry) on every call, so counting usernames let a client that
// fetched fresh credentials for each allocation escape the cap. The scope
// is what every credential of one client of one channel shares, and it
// cannot be forged (the password is an HMAC over it).
type quotas struct {
	perCredential int // 0: no cap
	perChannel    int // 0: no cap
	perAccount    int // 0: no cap

	mu           sync.Mutex
	byCredential map[string]int
	byChannel    map[string]int
	byAccount    map[string]int
}

func newQuotas(perCredential, perChannel, perAccount int) *quotas {
	return &quotas{
		perCredential: perCredential,
		perChannel:    perChannel,
		perAccount:    perAccount,
		byCredential:  map[string]int{},
		byChannel:     map[string]int{},
		byAccount:     map[string]int{},
	}
}

// quotaKeys are the keys one allocation counts under.
type quotaKeys struct{ credential, channel, account string }

func keysOf(c credential) quotaKeys {
	return quotaKeys{credential: c.quotaCredential(), channel: c.quotaChannel(), account: c.Scope.Account}
}

// check reports whether one more allocation would fit, without taking it
// ("" when it fits, else the reason). It answers the TURN QuotaHandler, so
// that a client over quota gets 486 Allocation Quota Reached.
func (q *quotas) check(c credential) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.overLocked(keysOf(c))
}

// limit returns the cap behind a refusal reason.
func (q *quotas) limit(reason string) int {
	switch reason {
	case reasonQuotaCredential:
		return q.perCredential
	case reasonQuotaChannel:
		return q.perChannel
	case reasonQuotaAccount:
		return q.perAccount
	}
	return 0
}

func (q *quotas) overLocked(k quotaKeys) string {
	if q.perCredential > 0 && q.byCredential[k.credential] >= q.perCredential {
		return reasonQuotaCredential
	}
	if q.perChannel > 0 && q.byChannel[k.channel] >= q.perChannel {
		return reasonQuotaChannel
	}
	if q.perAccount > 0 && q.byAccount[k.account] >= q.perAccount {
		return reasonQuotaAccount
	}
	return ""
}

// acquire takes one allocation of c's quotas atomically and returns the
// function that gives it back (safe to call more than once), or the reason
// it does not fit. check and acquire race only when two allocations of one
// credential arrive at once on different listeners; acquire is the one
// that holds the line.
func (q *quotas) acquire(c credential) (release func(), reason string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := keysOf(c)
	if reason := q.overLocked(k); reason != "" {
		return nil, reason
	}
	q.byCredential[k.credential]++
	q.byChannel[k.channel]++
	q.byAccount[k.account]++
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			decrement(q.byCredential, k.credential)
			decrement(q.byChannel, k.channel)
			decrement(q.byAccount, k.account)
		})
	}, ""
}

// live returns the live allocation counts of a credential, its channel
// and its account.
func (q *quotas) live(c credential) (perCredential, perChannel, perAccount int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := keysOf(c)
	return q.byCredential[k.credential], q.byChannel[k.channel], q.byAccount[k.account]
}

// decrement takes one from the count of key, deleting the key when
// nothing is left so that the map holds live keys only.
func decrement[K comparable](m map[K]int, key K) {
	if m[key] <= 1 {
		delete(m, key)
		return
	}
	m[key]--
}

// minBurstBytes is the smallest token bucket, so that a cap never stops a
// single full-size datagram or TCP read.
const minBurstBytes = 64 << 10

// newBandwidthLimiter returns a token bucket on bytes for a cap in bits per
// second, with one second of traffic as burst; nil when there is no cap.
func newBandwidthLimiter(bitsPerSecond int64) *rate.Limiter {
	if bitsPerSecond <= 0 {
		return nil
	}
	bytesPerSecond := bitsPerSecond / 8
	return rate.NewLimiter(rate.Limit(bytesPerSecond), int(max(bytesPerSecond, minBurstBytes)))
}
