// Package ratelimit owns the token buckets behind the server's call-rate
// quotas: a Rule (a rate and a burst) and Keyed, a set of buckets by key
// (one per channel, or per account) that are created on first use and
// forgotten once they have refilled, so that memory follows recent
// activity only.
//
// It has no clock of its own: every call is given the time, so that its
// owners can be tested with a clock they control. The per-connection
// buckets of the signaling hub are not here; they live in the hub's hot
// path, one per connection, and need no map or lock.
package ratelimit

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Rule is the rate (tokens per second) and burst (the most tokens a bucket
// holds) of token buckets. Each allowed call takes one token; a bucket
// starts full. Rate must be above 0 and Burst at least 1.
type Rule struct {
	Rate  float64
	Burst float64
}

// refillTime is how long an empty bucket takes to fill up.
func (r Rule) refillTime() time.Duration {
	return time.Duration(r.Burst / r.Rate * float64(time.Second))
}

// bucket is the state of one token bucket; the Rule is kept by its owner.
type bucket struct {
	tokens float64
	last   int64 // unix nanoseconds of the last refill
}

func (b *bucket) refill(r Rule, now int64) {
	if elapsed := now - b.last; elapsed > 0 {
		b.tokens = min(r.Burst, b.tokens+float64(elapsed)/float64(time.Second)*r.Rate)
		b.last = now
	}
}

// Keyed is a set of token buckets sharing one Rule, by key. It is safe for
// concurrent use. A nil *Keyed allows everything, which is how an owner
// says "no limit".
type Keyed struct {
	rule Rule
	// sweepEvery is how often Allow forgets the buckets that have
	// refilled: a bucket is gone at most refill time + sweepEvery after
	// its last call.
	sweepEvery int64

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep int64
}

// minSweepEvery keeps sweeps of fast-refilling buckets from running on
// every call.
const minSweepEvery = time.Second

// NewKeyed returns an empty set of buckets following rule. It panics on
// a rule outside its contract (a rate not above 0, a burst under 1, or
// either not finite): its owners validate their settings first, and a
// NaN rate would otherwise allow every call and keep every bucket.
func NewKeyed(rule Rule) *Keyed {
	if !(rule.Rate > 0) || !(rule.Burst >= 1) || math.IsInf(rule.Rate, 0) || math.IsInf(rule.Burst, 0) {
		panic(fmt.Sprintf("ratelimit: invalid rule: rate %v, burst %v", rule.Rate, rule.Burst))
	}
	return &Keyed{
		rule:       rule,
		sweepEvery: int64(max(minSweepEvery, rule.refillTime())),
		buckets:    make(map[string]*bucket),
	}
}

// Rule returns the rule of the buckets.
func (k *Keyed) Rule() Rule { return k.rule }

// Allow takes a token from key's bucket and reports whether there was one.
// It also forgets refilled buckets when a sweep is due.
func (k *Keyed) Allow(key string, now time.Time) bool {
	if k == nil {
		return true
	}
	t := now.UnixNano()
	k.mu.Lock()
	defer k.mu.Unlock()
	if t-k.lastSweep >= k.sweepEvery {
		k.sweepLocked(t)
	}
	b := k.buckets[key]
	if b == nil {
		b = &bucket{tokens: k.rule.Burst, last: t}
		k.buckets[key] = b
	}
	b.refill(k.rule, t)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// GiveBack returns the token an Allow for key took, when a later check
// refused the call it was taken for.
func (k *Keyed) GiveBack(key string) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if b := k.buckets[key]; b != nil {
		b.tokens = min(k.rule.Burst, b.tokens+1)
	}
}

// Sweep forgets the buckets that have refilled completely: forgetting a
// full bucket changes nothing, as a new one starts full. Allow sweeps by
// itself; an owner with a timer of its own may sweep more often.
func (k *Keyed) Sweep(now time.Time) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sweepLocked(now.UnixNano())
}

func (k *Keyed) sweepLocked(now int64) {
	for key, b := range k.buckets {
		b.refill(k.rule, now)
		if b.tokens >= k.rule.Burst {
			delete(k.buckets, key)
		}
	}
	k.lastSweep = now
}

// Tokens returns how many calls key's bucket allows now, without taking
// one; a key with no bucket has a full one, and a nil Keyed allows
// without end.
func (k *Keyed) Tokens(key string, now time.Time) float64 {
	if k == nil {
		return math.Inf(1)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.buckets[key]
	if b == nil {
		return k.rule.Burst
	}
	b.refill(k.rule, now.UnixNano())
	return b.tokens
}

// Len returns how many buckets are held.
func (k *Keyed) Len() int {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}
