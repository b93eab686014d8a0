//go:build !linux

package netpark

import "testing"

// assertStopped: the fallback has no loop of its own; its Close returns
// only after every waiting goroutine ended, which the watches show.
func assertStopped(t *testing.T, p *Poller) {
	t.Helper()
	if n := p.Len(); n != 0 {
		t.Fatalf("Len after Close = %d, want 0", n)
	}
}
