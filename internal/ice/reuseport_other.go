//go:build !unix

package ice

import "syscall"

// reusePortSupported tells whether several sockets can share a port: not
// here, so one UDP listener is used.
const reusePortSupported = false

// reusePortControl does nothing where SO_REUSEPORT does not exist.
func reusePortControl(_, _ string, _ syscall.RawConn) error { return nil }
