package signaling

import (
	"fmt"
	"sync"
	"time"
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

// full reports whether the bucket has refilled completely, i.e. forgetting
// it changes nothing.
func (b *bucket) full(r bucketRule, now time.Time) bool {
	b.refill(r, now)
	return b.tokens >= r.burst
}

// keyedLimiter is a set of token buckets by key (one per channel), created
// on first use and forgotten by sweep once they have refilled, so that its
// memory follows recent activity only.
type keyedLimiter struct {
	rule bucketRule
	keys rateSettings

	mu      sync.Mutex
	buckets map[string]*bucket
}

func newKeyedLimiter(rate float64, burst int, keys rateSettings) *keyedLimiter {
	return &keyedLimiter{rule: bucketRule{rate, float64(burst)}, keys: keys, buckets: make(map[string]*bucket)}
}

// refusal describes a refusal of what by this limiter.
func (l *keyedLimiter) refusal(what string) string { return l.rule.refusal(what, l.keys) }

func (l *keyedLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		nb := l.rule.start(now)
		b = &nb
		l.buckets[key] = b
	}
	return b.allow(l.rule, now)
}

// giveBack returns the token an allow for key took, when a later check
// refused what it was taken for.
func (l *keyedLimiter) giveBack(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[key]; b != nil {
		b.tokens = min(l.rule.burst, b.tokens+1)
	}
}

func (l *keyedLimiter) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, b := range l.buckets {
		if b.full(l.rule, now) {
			delete(l.buckets, key)
		}
	}
}

func (l *keyedLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// channelKey names a channel in the limiter maps.
func channelKey(account, arn string) string { return account + "\x00" + arn }
