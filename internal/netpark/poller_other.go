//go:build unix && !linux

package netpark

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Poller tells when parked connections become readable.
//
// This is the portable fallback for systems without epoll: each watch is a
// goroutine waiting for readability in the Go runtime's own poller. It
// behaves like the Linux Poller but keeps one goroutine per parked
// connection, so it saves no memory; it exists so that code using netpark
// builds and runs the same way everywhere.
type Poller struct {
	mu        sync.Mutex
	closed    bool
	watches   map[*Conn]*watch
	closeOnce sync.Once
}

type watch struct {
	ready func()
	done  chan struct{} // closed when the waiting goroutine is past its wait
}

// longAgo is a read deadline that has always passed: setting it makes a
// goroutine waiting in RawConn.Read give up at once, without a timer.
var longAgo = time.Unix(1, 0)

// NewPoller returns a Poller; it starts nothing until Watch.
func NewPoller() (*Poller, error) {
	return &Poller{watches: make(map[*Conn]*watch)}, nil
}

// Watch arms a one-shot watch on c: ready is called once, on a new
// goroutine, when c becomes readable, when the peer hangs up or the socket
// reports an error (the next Read tells which), when a read deadline set on
// c passes, or when the Poller is closed. If c is readable already, ready
// is called promptly. Watch and Unwatch of one Conn must not run
// concurrently. If Watch returns an error, ready is never called.
func (p *Poller) Watch(c *Conn, ready func()) error {
	// Like the Linux Poller, refuse a closed Conn instead of firing at once.
	if err := c.raw.Control(func(uintptr) {}); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrPollerClosed
	}
	if p.watches[c] != nil {
		return ErrAlreadyWatched
	}
	w := &watch{ready: ready, done: make(chan struct{})}
	p.watches[c] = w
	go p.wait(c, w)
	return nil
}

// wait blocks until c is readable (or its wait is cut short), then calls
// ready unless Unwatch or Close claimed the watch first. RawConn.Read
// clears the runtime's record of earlier readiness before the first
// callback, so the callback must look at the socket itself: returning
// false without looking could wait forever for data that is already there.
func (p *Poller) wait(c *Conn, w *watch) {
	_ = c.raw.Read(func(fd uintptr) bool { return readable(fd) })
	p.mu.Lock()
	mine := p.watches[c] == w
	if mine {
		delete(p.watches, c)
	}
	p.mu.Unlock()
	close(w.done)
	if mine {
		w.ready()
	}
}

// Unwatch cancels c's pending watch and reports whether there was one. When
// it returns true, that watch's ready will never run. In this fallback it
// ends the waiting goroutine with a read deadline in the past and then
// clears c's read deadline (any deadline the owner had set is lost).
func (p *Poller) Unwatch(c *Conn) bool {
	p.mu.Lock()
	w := p.watches[c]
	delete(p.watches, c)
	p.mu.Unlock()
	if w == nil {
		return false
	}
	stopWait(c, w)
	return true
}

// stopWait makes the goroutine waiting on c return and waits for it.
func stopWait(c *Conn, w *watch) {
	_ = c.nc.SetReadDeadline(longAgo)
	<-w.done
	_ = c.nc.SetReadDeadline(time.Time{})
}

// Len reports the number of armed watches.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.watches)
}

// Close stops the Poller. Every pending watch has its ready called (each
// on a new goroutine), so that owners of parked connections notice rather
// than wait forever. Close returns after the waiting goroutines have ended;
// it does not wait for the ready calls. It is idempotent.
func (p *Poller) Close() error {
	p.closeOnce.Do(p.shutdown)
	return nil
}

func (p *Poller) shutdown() {
	p.mu.Lock()
	p.closed = true
	pending := p.watches
	p.watches = make(map[*Conn]*watch)
	p.mu.Unlock()
	for c, w := range pending {
		stopWait(c, w)
		go w.ready()
	}
}

// readable polls fd without waiting. Errors count as readable: the owner's
// next Read reports them.
func readable(fd uintptr) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || n > 0
	}
}
