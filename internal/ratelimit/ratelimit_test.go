package ratelimit

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestBurstThenRate(t *testing.T) {
	k := NewKeyed(Rule{Rate: 2, Burst: 3})
	for i := range 3 {
		if !k.Allow("a", t0) {
			t.Fatalf("call %d within the burst refused", i+1)
		}
	}
	if k.Allow("a", t0) {
		t.Fatal("call beyond the burst allowed")
	}
	if !k.Allow("b", t0) {
		t.Fatal("another key shares the first key's bucket")
	}
	// Half a second at 2 per second is one token, and only one.
	later := t0.Add(500 * time.Millisecond)
	if !k.Allow("a", later) {
		t.Fatal("refilled token refused")
	}
	if k.Allow("a", later) {
		t.Fatal("more than the refill allowed")
	}
}

func TestBurstCapsTheRefill(t *testing.T) {
	k := NewKeyed(Rule{Rate: 10, Burst: 2})
	k.Allow("a", t0)
	later := t0.Add(time.Hour)
	allowed := 0
	for k.Allow("a", later) {
		allowed++
	}
	if allowed != 2 {
		t.Fatalf("after an idle hour %d calls allowed, want the burst, 2", allowed)
	}
}

func TestGiveBack(t *testing.T) {
	k := NewKeyed(Rule{Rate: 1, Burst: 1})
	k.Allow("a", t0)
	k.GiveBack("a")
	if !k.Allow("a", t0) {
		t.Fatal("token given back is not available")
	}
	k.GiveBack("a")
	k.GiveBack("a") // never above the burst
	k.Allow("a", t0)
	if k.Allow("a", t0) {
		t.Fatal("giving back twice made the bucket hold more than its burst")
	}
	k.GiveBack("unknown") // no bucket: nothing happens
}

func TestRefilledBucketsAreForgotten(t *testing.T) {
	k := NewKeyed(Rule{Rate: 5, Burst: 5}) // refills in 1s
	for i := range 100 {
		k.Allow(fmt.Sprint(i), t0)
	}
	if n := k.Len(); n != 100 {
		t.Fatalf("%d buckets, want 100", n)
	}
	// Within the refill time the buckets are kept: they still matter.
	k.Allow("x", t0.Add(500*time.Millisecond))
	if n := k.Len(); n < 100 {
		t.Fatalf("%d buckets after half the refill time, want all kept", n)
	}
	// Once refilled, the next call's sweep forgets them.
	k.Allow("y", t0.Add(2*time.Second))
	if n := k.Len(); n != 1 {
		t.Fatalf("%d buckets after the refill time, want only the new one", n)
	}
	k.Sweep(t0.Add(time.Hour))
	if n := k.Len(); n != 0 {
		t.Fatalf("%d buckets after Sweep, want 0", n)
	}
}

func TestSlowRuleSweepsAfterItsRefill(t *testing.T) {
	k := NewKeyed(Rule{Rate: 0.1, Burst: 1}) // refills in 10s
	k.Allow("a", t0)
	k.Allow("b", t0.Add(5*time.Second))
	if n := k.Len(); n != 2 {
		t.Fatalf("%d buckets, want 2: neither has refilled", n)
	}
	k.Allow("c", t0.Add(11*time.Second))
	if n := k.Len(); n != 2 {
		t.Fatalf("%d buckets, want b and c: a has refilled", n)
	}
}

func TestNilAllowsEverything(t *testing.T) {
	var k *Keyed
	for range 10 {
		if !k.Allow("a", t0) {
			t.Fatal("nil Keyed refused a call")
		}
	}
	k.GiveBack("a")
	k.Sweep(t0)
	if k.Len() != 0 {
		t.Fatal("nil Keyed holds buckets")
	}
}

func TestConcurrentCallsShareTheBurst(t *testing.T) {
	k := NewKeyed(Rule{Rate: 1, Burst: 50})
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if k.Allow("a", t0) {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("%d of 160 concurrent calls allowed, want the burst, 50", allowed)
	}
}

func TestTokensReportsWithoutTaking(t *testing.T) {
	k := NewKeyed(Rule{Rate: 1, Burst: 3})
	if got := k.Tokens("a", t0); got != 3 {
		t.Fatalf("unknown key: %v tokens, want a full bucket of 3", got)
	}
	k.Allow("a", t0)
	k.Allow("a", t0)
	for range 2 {
		if got := k.Tokens("a", t0); got != 1 {
			t.Fatalf("after two calls: %v tokens, want 1 (asking must not take one)", got)
		}
	}
	if got := k.Tokens("a", t0.Add(1500*time.Millisecond)); got != 2.5 {
		t.Fatalf("1.5 s later: %v tokens, want 2.5", got)
	}
	var none *Keyed
	if got := none.Tokens("a", t0); got < 1e308 {
		t.Fatalf("nil Keyed: %v tokens, want no end", got)
	}
}

// TestNewKeyedRefusesRulesOutsideItsContract: a NaN rate would allow
// every call and keep every bucket forever, so no such Keyed is made.
func TestNewKeyedRefusesRulesOutsideItsContract(t *testing.T) {
	for _, r := range []Rule{
		{Rate: math.NaN(), Burst: 1},
		{Rate: math.Inf(1), Burst: 1},
		{Rate: 0, Burst: 1},
		{Rate: 1, Burst: 0.5},
		{Rate: 1, Burst: math.NaN()},
		{Rate: 1, Burst: math.Inf(1)},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewKeyed(%+v) made a set of buckets", r)
				}
			}()
			NewKeyed(r)
		}()
	}
}
