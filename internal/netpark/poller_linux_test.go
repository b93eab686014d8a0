//go:build linux

package netpark

import (
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// assertStopped checks that the event loop has ended once Close returned.
func assertStopped(t *testing.T, p *Poller) {
	t.Helper()
	select {
	case <-p.done:
	default:
		t.Fatal("event loop still running after Close returned")
	}
}

func TestCloseEndsLoopWithoutWatches(t *testing.T) {
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	assertStopped(t, p)
}

func TestTokenRoundTrip(t *testing.T) {
	for _, tok := range []uint64{1, 1<<31 + 7, 1 << 32, 0xdeadbeefcafef00d, ^uint64(0)} {
		var ev unix.EpollEvent
		setToken(&ev, tok)
		if got := token(&ev); got != tok {
			t.Errorf("token round trip: %#x became %#x", tok, got)
		}
	}
}

// TestReusedDescriptorNumber: a watch cancelled and closed leaves no trace
// that could wake the connection that inherits its descriptor number.
func TestReusedDescriptorNumber(t *testing.T) {
	p := newPoller(t)
	ln := listen(t, loopbacks[0])
	old, oldClient := pair(t, ln)
	var stale atomic.Int32
	if err := p.Watch(old, func() { stale.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if !p.Unwatch(old) {
		t.Fatal("Unwatch returned false")
	}
	old.Close()
	oldClient.Close()

	fresh, freshClient := pair(t, ln) // likely the same descriptor numbers
	send(t, freshClient, []byte("x"))
	waitFor(t, watchCh(t, p, fresh), "the new connection's watch")
	if stale.Load() != 0 {
		t.Fatal("the cancelled watch fired")
	}
}
