package netpark

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestWatchFiresForDataAlreadyThere(t *testing.T) {
	for _, lb := range loopbacks {
		t.Run(lb.name, func(t *testing.T) {
			p := newPoller(t)
			pc, cc := pair(t, listen(t, lb))
			send(t, cc, []byte("x"))
			// The first watch proves the byte has arrived; the second is
			// armed on a socket that is readable already and must fire too.
			waitFor(t, watchCh(t, p, pc), "the byte to arrive")
			waitFor(t, watchCh(t, p, pc), "a watch armed on a readable socket")
		})
	}
}

func TestWatchFiresOnHangup(t *testing.T) {
	for _, lb := range loopbacks {
		t.Run(lb.name, func(t *testing.T) {
			p := newPoller(t)
			pc, cc := pair(t, listen(t, lb))
			pc.SetNonblocking(true)
			ch := watchCh(t, p, pc)
			cc.Close()
			waitFor(t, ch, "the hangup")
			if _, err := pc.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("Read after hangup: err = %v, want io.EOF", err)
			}
		})
	}
}

func TestWatchFiresOncePerWatch(t *testing.T) {
	p := newPoller(t)
	pc, cc := pair(t, listen(t, loopbacks[0]))
	send(t, cc, []byte("unread")) // stays unread: level-triggered all along

	var first atomic.Int32
	fired := make(chan struct{}, 10)
	if err := p.Watch(pc, func() { first.Add(1); fired <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fired, "the first watch")
	if n := p.Len(); n != 0 {
		t.Fatalf("Len after firing = %d, want 0", n)
	}
	// The next watch fires through the same loop, after any repeat of the
	// first one would have.
	waitFor(t, watchCh(t, p, pc), "the second watch")
	if n := first.Load(); n != 1 {
		t.Fatalf("first ready ran %d times, want 1", n)
	}
}

func TestWatchRefusesSecondWatch(t *testing.T) {
	p := newPoller(t)
	pc, _ := pair(t, listen(t, loopbacks[0]))
	watchCh(t, p, pc)
	if err := p.Watch(pc, func() {}); !errors.Is(err, ErrAlreadyWatched) {
		t.Fatalf("second Watch err = %v, want ErrAlreadyWatched", err)
	}
	if n := p.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
}

func TestWatchRefusesClosedConn(t *testing.T) {
	p := newPoller(t)
	pc, _ := pair(t, listen(t, loopbacks[0]))
	pc.Close()
	if err := p.Watch(pc, func() { t.Error("ready called for a refused watch") }); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Watch of a closed conn: err = %v, want net.ErrClosed", err)
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}
}

func TestUnwatch(t *testing.T) {
	p := newPoller(t)
	pc, cc := pair(t, listen(t, loopbacks[0]))
	if p.Unwatch(pc) {
		t.Fatal("Unwatch of a conn never watched returned true")
	}

	var cancelled atomic.Int32
	if err := p.Watch(pc, func() { cancelled.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if n := p.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
	if !p.Unwatch(pc) {
		t.Fatal("Unwatch of a pending watch returned false")
	}
	if p.Unwatch(pc) {
		t.Fatal("second Unwatch returned true")
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len after Unwatch = %d, want 0", n)
	}

	// Data arrives; only the new watch may hear of it.
	send(t, cc, []byte("x"))
	waitFor(t, watchCh(t, p, pc), "the watch after Unwatch")
	if n := cancelled.Load(); n != 0 {
		t.Fatalf("cancelled ready ran %d times", n)
	}
	if p.Unwatch(pc) {
		t.Fatal("Unwatch after the ready ran returned true")
	}
}

// TestUnwatchRacesData races Unwatch against data arriving (and, once the
// first byte is in, against a watch that fires at once): whatever Unwatch
// reports must hold. Which side wins varies from run to run.
func TestUnwatchRacesData(t *testing.T) {
	p := newPoller(t)
	pc, cc := pair(t, listen(t, loopbacks[0]))
	var cancelled []*atomic.Int32
	for i := range 300 {
		var runs atomic.Int32
		done := make(chan struct{})
		if err := p.Watch(pc, func() { runs.Add(1); close(done) }); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			go cc.Write([]byte{byte(i)})
		}
		for range i % 16 { // vary who wins; no sleeping
			runtime.Gosched()
		}
		if p.Unwatch(pc) {
			cancelled = append(cancelled, &runs)
		} else {
			waitFor(t, done, "a ready that Unwatch reported as started")
		}
	}
	send(t, cc, []byte("fence"))
	waitFor(t, watchCh(t, p, pc), "the fence watch")
	for i, runs := range cancelled {
		if n := runs.Load(); n != 0 {
			t.Fatalf("cancelled watch %d ran its ready %d times", i, n)
		}
	}
	t.Logf("%d of 300 watches cancelled", len(cancelled))
}

func TestCloseFiresPendingWatches(t *testing.T) {
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t, loopbacks[0])
	var chans []<-chan struct{}
	var conns []*Conn
	for range 10 {
		pc, _ := pair(t, ln)
		conns = append(conns, pc)
		chans = append(chans, watchCh(t, p, pc))
	}
	if n := p.Len(); n != 10 {
		t.Fatalf("Len = %d, want 10", n)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	assertStopped(t, p)
	for _, ch := range chans {
		waitFor(t, ch, "a pending watch to fire on Close")
	}
	if n := p.Len(); n != 0 {
		t.Fatalf("Len after Close = %d, want 0", n)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := p.Watch(conns[0], func() {}); !errors.Is(err, ErrPollerClosed) {
		t.Fatalf("Watch after Close: err = %v, want ErrPollerClosed", err)
	}
	if p.Unwatch(conns[0]) {
		t.Fatal("Unwatch after Close returned true")
	}
}

// TestManyParked parks 500 connections, wakes a random fifth of them, and
// checks that exactly those fire; Close then fires the rest.
func TestManyParked(t *testing.T) {
	const total, woken = 500, 100
	p := newPoller(t)
	ln := listen(t, loopbacks[0])
	fired := make(chan int, total)
	clients := make([]net.Conn, total)
	for i := range total {
		pc, cc := pair(t, ln)
		clients[i] = cc
		if err := p.Watch(pc, func() { fired <- i }); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.Len(); n != total {
		t.Fatalf("Len = %d, want %d", n, total)
	}

	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	want := rand.New(rand.NewPCG(seed, 0)).Perm(total)[:woken]
	for _, i := range want {
		send(t, clients[i], []byte{1})
	}
	got := collect(t, fired, woken)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	if n := p.Len(); n != total-woken {
		t.Fatalf("Len = %d, want %d", n, total-woken)
	}

	p.Close()
	rest := collect(t, fired, total-woken)
	all := slices.Concat(got, rest)
	slices.Sort(all)
	if len(slices.Compact(all)) != total {
		t.Fatal("a watch fired twice, or one never fired")
	}
}

// collect receives n indexes from ch and returns them sorted.
func collect(t *testing.T, ch <-chan int, n int) []int {
	t.Helper()
	out := make([]int, 0, n)
	timeout := time.After(waitTimeout)
	for range n {
		select {
		case i := <-ch:
			out = append(out, i)
		case <-timeout:
			t.Fatalf("timed out after %v with %d of %d watches fired", waitTimeout, len(out), n)
		}
	}
	slices.Sort(out)
	return out
}
