//go:build !unix

package netpark

// Poller tells when parked connections become readable. On this system
// connections cannot be parked (Wrap fails), so every method reports that.
type Poller struct{}

// NewPoller returns ErrUnsupported on this system.
func NewPoller() (*Poller, error) { return nil, ErrUnsupported }

// Watch returns ErrUnsupported on this system.
func (p *Poller) Watch(*Conn, func()) error { return ErrUnsupported }

// Unwatch reports false: there are no watches on this system.
func (p *Poller) Unwatch(*Conn) bool { return false }

// Close does nothing on this system.
func (p *Poller) Close() error { return nil }

// Len reports 0 on this system.
func (p *Poller) Len() int { return 0 }
