package ice

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

// flakyListener fails Accept with queued errors before it accepts for
// real, or with always on every call when that is set.
type flakyListener struct {
	net.Listener
	always  error
	mu      sync.Mutex
	pending []error
}

func (l *flakyListener) fail(errs ...error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, errs...)
}

func (l *flakyListener) left() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.always != nil {
		return nil, l.always
	}
	l.mu.Lock()
	if len(l.pending) > 0 {
		err := l.pending[0]
		l.pending = l.pending[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// acceptError is the error net returns when accept(2) fails with errno.
func acceptError(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// TestTrackedListenerSurvivesTemporaryErrors runs pion's own accept loop
// (v5.1.3, which returns on the first Accept error) over a trackedListener
// whose listener fails the way a process out of descriptors or memory
// does, before the first connection and again later. Every connection
// must be served, and only closing the server may end the loop.
func TestTrackedListenerSurvivesTemporaryErrors(t *testing.T) {
	raw := listenLoopback(t)
	flaky := &flakyListener{Listener: raw}
	flaky.fail(acceptError(syscall.EMFILE), acceptError(syscall.ENFILE), acceptError(syscall.ECONNABORTED))
	var ended atomic.Bool
	ln := newTrackedListener(flaky, func() { ended.Store(true) }, nil, testLogger(t))
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         "test",
		LoggerFactory: pionLoggers{log: testLogger(t)},
		ListenerConfigs: []turn.ListenerConfig{{
			Listener:              ln,
			RelayAddressGenerator: &turn.RelayAddressGeneratorNone{Address: "127.0.0.1"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var closeOnce sync.Once
	closeServer := func() { closeOnce.Do(func() { _ = srv.Close() }) }
	t.Cleanup(closeServer)

	expectOpen(t, dialFrom(t, "127.0.0.1", raw.Addr()), "a connection accepted after three failures")
	// pion is already waiting for the next connection, so these failures
	// come after the second one and before the third.
	flaky.fail(acceptError(syscall.ENOBUFS), acceptError(syscall.EMFILE))
	expectOpen(t, dialFrom(t, "127.0.0.1", raw.Addr()), "a second connection")
	expectOpen(t, dialFrom(t, "127.0.0.1", raw.Addr()), "a connection accepted after two more failures")
	if n := flaky.left(); n != 0 {
		t.Fatalf("%d queued failures never reached Accept", n)
	}
	if ended.Load() {
		t.Fatal("the accept loop was marked ended while it still served")
	}
	closeServer()
	waitFor(t, closeWait, "closing to end the accept loop", ended.Load)
}

// TestTrackedListenerCloseCutsBackoff checks that closing the listener
// ends an Accept that is backing off. The listener keeps failing with
// EMFILE even once closed, so only Close's own signal can end the wait.
func TestTrackedListenerCloseCutsBackoff(t *testing.T) {
	flaky := &flakyListener{Listener: listenLoopback(t), always: acceptError(syscall.EMFILE)}
	var ended atomic.Bool
	ln := newTrackedListener(flaky, func() { ended.Store(true) }, nil, testLogger(t))
	result := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if c != nil {
			_ = c.Close()
		}
		result <- err
	}()
	time.Sleep(100 * time.Millisecond) // a few backoffs in
	select {
	case err := <-result:
		t.Fatalf("Accept returned %v while the listener was open", err)
	default:
	}
	_ = ln.Close()
	select {
	case err := <-result:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(closeWait):
		t.Fatal("Accept still backing off after Close")
	}
	if !ended.Load() {
		t.Fatal("the accept loop was not marked ended")
	}
}

// TestTrackedListenerEnds checks the two ways Accept gives up: the
// listener is closed, or it fails in a way that does not pass.
func TestTrackedListenerEnds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(l *flakyListener)
		want  error
	}{
		{"closed", func(l *flakyListener) { _ = l.Listener.Close() }, net.ErrClosed},
		{"broken", func(l *flakyListener) { l.fail(acceptError(syscall.EINVAL)) }, syscall.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flaky := &flakyListener{Listener: listenLoopback(t)}
			tc.setup(flaky)
			var ended atomic.Bool
			ln := newTrackedListener(flaky, func() { ended.Store(true) }, nil, testLogger(t))
			if _, err := ln.Accept(); !errors.Is(err, tc.want) {
				t.Fatalf("Accept: %v, want %v", err, tc.want)
			}
			if !ended.Load() {
				t.Fatal("the accept loop was not marked ended")
			}
		})
	}
}

func TestRetryableAccept(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"EMFILE", acceptError(syscall.EMFILE), true},
		{"ENFILE", acceptError(syscall.ENFILE), true},
		{"ECONNABORTED", acceptError(syscall.ECONNABORTED), true},
		{"ENOBUFS", acceptError(syscall.ENOBUFS), true},
		{"ENOMEM", acceptError(syscall.ENOMEM), true},
		{"ECONNRESET", acceptError(syscall.ECONNRESET), true},
		{"timeout", &net.OpError{Op: "accept", Net: "tcp", Err: os.ErrDeadlineExceeded}, true},
		{"closed", &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}, false},
		{"EINVAL", acceptError(syscall.EINVAL), false},
		{"not a net error", errors.New("broken"), false},
	} {
		if got := retryableAccept(tc.err); got != tc.want {
			t.Errorf("%s (%v): retryable=%v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
