//go:build linux

package netpark

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

const (
	// wakeToken marks the eventfd that Close writes to; watch tokens start
	// above it.
	wakeToken = 0
	// maxEvents bounds the events taken per epoll_wait.
	maxEvents = 128
	// watchEvents: level-triggered, so data that arrived before the watch
	// was armed is reported at once; one-shot, so each watch fires once and
	// stays quiet until armed again. RDHUP, HUP and ERR wake the owner for a
	// peer close or an error, which its next Read then reports.
	watchEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR | unix.EPOLLONESHOT
)

// Poller tells when parked connections become readable. On Linux it is one
// epoll instance and one goroutine, however many connections are parked.
//
// A watch is identified in the kernel by a 64-bit token, never reused,
// rather than by the descriptor number: numbers are reused as soon as a
// connection is closed, and a stale event must not wake a stranger.
type Poller struct {
	epfd   int
	wakefd int

	// fdMu is held shared by Watch and Unwatch while they use epfd, and
	// exclusively by Close while it takes pending watches and closes epfd:
	// no epoll_ctl can reach a closed (and maybe reused) descriptor, and a
	// Watch that fails is never also reported by Close.
	fdMu sync.RWMutex

	mu      sync.Mutex
	closed  bool
	err     error // why the event loop stopped by itself, if it did
	next    uint64
	byToken map[uint64]*watch
	byConn  map[*Conn]*watch

	closeOnce sync.Once
	closeErr  error
	done      chan struct{} // closed when the event loop returns
}

type watch struct {
	token uint64
	conn  *Conn
	ready func()
}

// NewPoller creates the epoll instance and starts its event loop; Close
// stops it.
func NewPoller() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setToken(&ev, wakeToken)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	p := &Poller{
		epfd:    epfd,
		wakefd:  wakefd,
		next:    wakeToken,
		byToken: make(map[uint64]*watch),
		byConn:  make(map[*Conn]*watch),
		done:    make(chan struct{}),
	}
	go p.loop()
	return p, nil
}

// Watch arms a one-shot watch on c: ready is called once, on a new
// goroutine, when c becomes readable, when the peer hangs up or the socket
// reports an error (the next Read tells which), or when the Poller is
// closed. If c is readable already, ready is called promptly. c must not be
// closed while watched (Unwatch it first), and Watch and Unwatch of one
// Conn must not run concurrently. If Watch returns an error, ready is never
// called.
func (p *Poller) Watch(c *Conn, ready func()) error {
	p.fdMu.RLock()
	defer p.fdMu.RUnlock()
	w, err := p.add(c, ready)
	if err != nil {
		return err
	}
	// The token is in the map before the kernel can report it.
	if err := p.arm(c, w.token); err != nil {
		p.mu.Lock()
		p.forget(w)
		p.mu.Unlock()
		return err
	}
	return nil
}

// add records a new watch under a fresh token.
func (p *Poller) add(c *Conn, ready func()) (*watch, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.err != nil:
		return nil, fmt.Errorf("%w: %w", ErrPollerClosed, p.err)
	case p.closed:
		return nil, ErrPollerClosed
	case p.byConn[c] != nil:
		return nil, ErrAlreadyWatched
	}
	p.next++
	w := &watch{token: p.next, conn: c, ready: ready}
	p.byToken[w.token] = w
	p.byConn[c] = w
	return w, nil
}

// arm registers c's descriptor with the token. MOD covers the usual case
// of a connection parked before (its one-shot registration stays, disarmed,
// after firing); ADD covers the first time, and the time after Unwatch.
// Control keeps the descriptor open while we use its number.
func (p *Poller) arm(c *Conn, token uint64) error {
	ev := unix.EpollEvent{Events: watchEvents}
	setToken(&ev, token)
	var ctlErr error
	err := c.raw.Control(func(fd uintptr) {
		ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
		if ctlErr == unix.ENOENT {
			ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if err != nil {
		return err
	}
	if ctlErr != nil {
		return os.NewSyscallError("epoll_ctl", ctlErr)
	}
	return nil
}

// Unwatch cancels c's pending watch and reports whether there was one. When
// it returns true, that watch's ready will never run; false means there was
// no watch, or it has fired (or Close took it) and its ready has been or is
// being called. Call it before closing a parked Conn: closing leaves the
// watch pending until the Poller is closed.
func (p *Poller) Unwatch(c *Conn) bool {
	p.fdMu.RLock()
	defer p.fdMu.RUnlock()
	p.mu.Lock()
	w := p.byConn[c]
	if w != nil {
		p.forget(w)
	}
	p.mu.Unlock()
	if w == nil {
		return false
	}
	// The event may still come in; its token is gone, so it is ignored. The
	// registration is removed all the same so that a quiet kernel entry does
	// not outlive the watch. If c is already closed, the kernel removed it.
	_ = c.raw.Control(func(fd uintptr) {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
	return true
}

// Len reports the number of armed watches.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byToken)
}

// Close stops the Poller. Every pending watch has its ready called (each
// on a new goroutine), so that owners of parked connections notice rather
// than wait forever: their next Read returns what the socket holds (often
// ErrWouldBlock), Watch returns ErrPollerClosed, and they can close the
// connection or serve it another way. Close returns after the
// event loop has ended; it does not wait for the ready calls. Later calls
// return the first call's result.
func (p *Poller) Close() error {
	p.closeOnce.Do(func() { p.closeErr = p.shutdown() })
	return p.closeErr
}

func (p *Poller) shutdown() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()

	p.fdMu.Lock() // waits out Watch and Unwatch calls in progress
	p.mu.Lock()
	pending := p.drain()
	p.mu.Unlock()
	wakeErr := p.wake()
	<-p.done
	err := errors.Join(wakeErr, closeFd("eventfd", p.wakefd), closeFd("epoll", p.epfd))
	p.fdMu.Unlock()

	for _, w := range pending {
		go w.ready()
	}
	return err
}

// wake makes epoll_wait return by bumping the eventfd's counter.
func (p *Poller) wake() error {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	if _, err := unix.Write(p.wakefd, one[:]); err != nil {
		return os.NewSyscallError("write eventfd", err)
	}
	return nil
}

// loop waits in epoll_wait (in the kernel, not spinning) and dispatches
// events until Close wakes it or epoll fails.
func (p *Poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, maxEvents)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			p.fail(os.NewSyscallError("epoll_wait", err))
			return
		}
		if p.dispatch(events[:n]) {
			return
		}
	}
}

// dispatch claims the watches that fired and starts their callbacks. It
// reports whether the wake event (Close) was among the events. Tokens not
// found belong to watches that were cancelled or taken by Close.
func (p *Poller) dispatch(events []unix.EpollEvent) (stop bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range events {
		t := token(&events[i])
		if t == wakeToken {
			stop = true
			continue
		}
		if w := p.byToken[t]; w != nil {
			p.forget(w)
			go w.ready()
		}
	}
	return stop
}

// fail ends the Poller's service after epoll_wait failed, which only a
// kernel or runtime fault can cause: pending watches fire as on Close, so
// that no parked connection is forgotten, and new ones are refused.
func (p *Poller) fail(err error) {
	p.mu.Lock()
	p.err = err
	p.closed = true
	pending := p.drain()
	p.mu.Unlock()
	for _, w := range pending {
		go w.ready()
	}
}

// forget removes w from both indexes; p.mu must be held.
func (p *Poller) forget(w *watch) {
	delete(p.byToken, w.token)
	delete(p.byConn, w.conn)
}

// drain removes and returns every pending watch; p.mu must be held.
func (p *Poller) drain() []*watch {
	pending := make([]*watch, 0, len(p.byToken))
	for _, w := range p.byToken {
		pending = append(pending, w)
	}
	clear(p.byToken)
	clear(p.byConn)
	return pending
}

func closeFd(what string, fd int) error {
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("close %s: %w", what, err)
	}
	return nil
}

// setToken and token store a 64-bit token in the event's data union, which
// x/sys/unix exposes as the Fd and Pad fields on every Linux architecture.
func setToken(ev *unix.EpollEvent, t uint64) {
	ev.Fd = int32(uint32(t))
	ev.Pad = int32(uint32(t >> 32))
}

func token(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}
