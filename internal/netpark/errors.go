package netpark

import (
	"errors"
	"fmt"
)

// ErrWouldBlock is returned by Conn.Read in nonblocking mode when the socket
// has no data. It is a net.Error whose Timeout and Temporary both report
// true: crypto/tls remembers every read error that is not Temporary as
// fatal for the connection, and Timeout tells generic code that retrying
// later is fine. Callers compare with errors.Is.
var ErrWouldBlock error = wouldBlockError{}

// ErrPollerClosed is returned by Poller.Watch after the Poller was closed
// (or its event loop failed, in which case the cause is wrapped too).
var ErrPollerClosed = errors.New("netpark: poller closed")

// ErrAlreadyWatched is returned by Poller.Watch when the Conn already has a
// pending watch on that Poller.
var ErrAlreadyWatched = errors.New("netpark: conn already watched")

// ErrNoRawConn is returned by Wrap for a connection that does not expose
// its file descriptor through syscall.Conn.
var ErrNoRawConn = errors.New("netpark: conn has no raw descriptor")

// ErrUnsupported is returned on systems where nonblocking reads of a raw
// socket are not available (those outside the unix build constraint). It
// wraps errors.ErrUnsupported.
var ErrUnsupported = fmt.Errorf("netpark: %w on this system", errors.ErrUnsupported)

type wouldBlockError struct{}

func (wouldBlockError) Error() string   { return "netpark: read would block" }
func (wouldBlockError) Timeout() bool   { return true }
func (wouldBlockError) Temporary() bool { return true }
