package signaling

import (
	"sync"
	"time"
)

// tokenBucket is a classic token bucket: it holds up to burst tokens,
// refills at rate per second, and each allowed event takes one token. It is
// not safe for concurrent use; per-connection buckets belong to the
// connection's reader and keyed buckets are guarded by keyedLimiter.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newTokenBucket(rate float64, burst int, now time.Time) tokenBucket {
	return tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

func (b *tokenBucket) refill(now time.Time) {
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed*b.rate)
		b.last = now
	}
}

// allow takes a token if one is available.
func (b *tokenBucket) allow(now time.Time) bool {
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// full reports whether the bucket has refilled completely, i.e. forgetting
// it changes nothing.
func (b *tokenBucket) full(now time.Time) bool {
	b.refill(now)
	return b.tokens >= b.burst
}

// keyedLimiter is a set of token buckets by key (one per channel), created
// on first use and forgotten by sweep once they have refilled, so that its
// memory follows recent activity only.
type keyedLimiter struct {
	rate  float64
	burst int

	mu      sync.Mutex
	buckets map[string]*tokenBucket
}

func newKeyedLimiter(rate float64, burst int) *keyedLimiter {
	return &keyedLimiter{rate: rate, burst: burst, buckets: make(map[string]*tokenBucket)}
}

func (l *keyedLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		nb := newTokenBucket(l.rate, l.burst, now)
		b = &nb
		l.buckets[key] = b
	}
	return b.allow(now)
}

func (l *keyedLimiter) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, b := range l.buckets {
		if b.full(now) {
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
