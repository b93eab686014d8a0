package signaling

import (
	"fmt"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/ratelimit"
)

// rateSettings are the configuration keys of a rate limit's rate and
// burst, for the messages that refuse what it limits.
type rateSettings struct{ rate, burst string }

// refusal describes a refusal by rule: what was refused, the rate and
// burst, and the settings that hold them (short: it may be a
// STATUS_RESPONSE description, at most 1,024 bytes for a C SDK peer).
func (r bucketRule) refusal(what string, keys rateSettings) string {
	return fmt.Sprintf("Too many %s (limit %g per second, burst %g: signaling.%s, signaling.%s); retry later.",
		what, r.rate, r.burst, keys.rate, keys.burst)
}

// bucketRule is the rate (tokens per second) and burst of token buckets.
// The rule is kept once by the owner of many buckets (the hub for every
// connection's, a keyedLimiter for its keys), and each bucket holds only
// its own state.
type bucketRule struct{ rate, burst float64 }

// bucket is the state of a token bucket: it holds up to burst tokens,
// refills at rate per second, and each allowed event takes one token. It
// is not safe for concurrent use; per-connection buckets belong to the
// connection's reader and keyed buckets are guarded by keyedLimiter.
type bucket struct {
	tokens float64
	last   int64 // unix nanoseconds of the last refill, on the hub's clock
}

func (r bucketRule) start(now time.Time) bucket {
	return bucket{tokens: r.burst, last: now.UnixNano()}
}

func (b *bucket) refill(r bucketRule, now time.Time) {
	if elapsed := now.UnixNano() - b.last; elapsed > 0 {
		b.tokens = min(r.burst, b.tokens+float64(elapsed)/float64(time.Second)*r.rate)
		b.last = now.UnixNano()
	}
}

// allow takes a token if one is available.
func (b *bucket) allow(r bucketRule, now time.Time) bool {
	b.refill(r, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// keyedLimiter is a set of token buckets by key (one per channel, or per
// account) with the settings that hold its rule, for its refusals. The
// buckets are forgotten once they have refilled (ratelimit.Keyed).
type keyedLimiter struct {
	*ratelimit.Keyed
	keys rateSettings
}

func newKeyedLimiter(rate float64, burst int, keys rateSettings) *keyedLimiter {
	return &keyedLimiter{Keyed: ratelimit.NewKeyed(ratelimit.Rule{Rate: rate, Burst: float64(burst)}), keys: keys}
}

// refusal describes a refusal of what by this limiter.
func (l *keyedLimiter) refusal(what string) string {
	r := l.Rule()
	return bucketRule{r.Rate, r.Burst}.refusal(what, l.keys)
}

// channelKey names a channel in the limiter maps.
func channelKey(account, arn string) string { return account + "\x00" + arn }
