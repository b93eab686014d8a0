//go:build unix

package ice

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortSupported tells whether several sockets can share a port.
const reusePortSupported = true

// reusePortControl sets SO_REUSEADDR and SO_REUSEPORT on a socket before it
// binds: several UDP listeners then share the TURN port (the kernel spreads
// clients over them by 5-tuple), and a TCP relay can dial from its
// listener's port (RFC 6062 Connect).
func reusePortControl(_, _ string, c syscall.RawConn) error {
	var opErr error
	err := c.Control(func(fd uintptr) {
		if opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); opErr != nil {
			return
		}
		opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return opErr
}
