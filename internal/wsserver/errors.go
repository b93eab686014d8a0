package wsserver

import (
	"errors"
	"fmt"

	"github.com/gobwas/ws"
)

// ErrBadHandshake is wrapped by the error Upgrade returns when it refused
// the request (with a 400 or a 426 reply).
var ErrBadHandshake = errors.New("wsserver: bad handshake")

// CloseError is a protocol violation by the client. Code and Reason are what
// the server should send in its close frame before closing the connection;
// the Conn is unusable afterwards.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

// Error describes the violation with its close code.
func (e *CloseError) Error() string {
	return fmt.Sprintf("wsserver: close %d: %s", e.Code, e.Reason)
}

// protocolError is a 1002 close for a broken rule of RFC 6455.
func protocolError(reason string) *CloseError {
	return &CloseError{Code: ws.StatusProtocolError, Reason: reason}
}
