package netpark

import "net"

// NewListener returns a listener whose Accept yields *Conn. A connection
// that cannot be wrapped (see Wrap) is returned as it is, so callers that
// want to park must check the type.
func NewListener(ln net.Listener) net.Listener { return &listener{Listener: ln} }

type listener struct {
	net.Listener
}

// Accept waits for the next connection and wraps it when it can.
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if pc, err := Wrap(c); err == nil {
		return pc, nil
	}
	return c, nil
}
