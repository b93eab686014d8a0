package bustest

import (
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/bus"
)

// Recorder is a bus.Handler that records what it receives. Tests of the
// backends and of the hub use it.
type Recorder struct {
	mu        sync.Mutex
	got       []bus.Envelope
	displaced int
	closed    int
	refuse    bool
}

var _ bus.Handler = (*Recorder)(nil)

// Deliver records env, or refuses it after Refuse was called.
func (r *Recorder) Deliver(env bus.Envelope) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse {
		return false
	}
	r.got = append(r.got, env)
	return true
}

// Displaced counts the call.
func (r *Recorder) Displaced() {
	r.mu.Lock()
	r.displaced++
	r.mu.Unlock()
}

// ChannelClosed counts the call.
func (r *Recorder) ChannelClosed() {
	r.mu.Lock()
	r.closed++
	r.mu.Unlock()
}

// Refuse makes every later Deliver return false.
func (r *Recorder) Refuse() {
	r.mu.Lock()
	r.refuse = true
	r.mu.Unlock()
}

// Got returns a copy of the envelopes received so far.
func (r *Recorder) Got() []bus.Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bus.Envelope(nil), r.got...)
}

// Counts returns how often Displaced and ChannelClosed were called.
func (r *Recorder) Counts() (displaced, closed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.displaced, r.closed
}

// waitFor polls cond until it holds or the deadline passes (backends may
// deliver asynchronously).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitGot waits until r holds n envelopes and returns them.
func waitGot(t *testing.T, r *Recorder, n int) []bus.Envelope {
	t.Helper()
	waitFor(t, "deliveries", func() bool { return len(r.Got()) >= n })
	got := r.Got()
	if len(got) != n {
		t.Fatalf("got %d envelopes, want %d: %+v", len(got), n, got)
	}
	return got
}
