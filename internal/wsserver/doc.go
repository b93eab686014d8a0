// Package wsserver is the server side of WebSocket (RFC 6455) for
// connections that are read without a goroutine blocked in Read.
//
// It owns the opening handshake (Upgrade), the incremental decoding of client
// frames and the reassembly of fragmented messages (Conn.Next), and the
// encoding of the frames a server sends (AppendText, AppendPing, AppendPong,
// AppendClose). It does not own the connection's life: it starts no
// goroutine, sets no deadline, never writes on its own (not even a pong or
// the answer to a close) and never closes the connection. The caller does all
// of that with what Next reports. It never negotiates extensions.
//
// # Nonblocking contract
//
// The connection under a Conn may fail a Read at any byte with a "would
// block" error: an error e for which errors.Is(e, UpgradeOptions.WouldBlock)
// holds, or a deadline expiry (errors.Is(e, os.ErrDeadlineExceeded)), so that
// a caller can also poll with read deadlines. Next then returns e itself and
// keeps the bytes it had, and a later call resumes exactly where it stopped.
// Any other read error, and every protocol error, is final: Next returns it
// again on every later call.
//
// Under a *tls.Conn the would-block error of the socket must be a net.Error
// whose Temporary method reports true (on the error itself, not on one it
// wraps): crypto/tls makes any other read error permanent, and the TLS
// connection would be dead before Next saw the error.
//
// Next never reads past the end of the frame it is decoding. Still, a
// complete frame may be waiting where readiness of the socket cannot show
// it: in the bytes the HTTP server had read ahead of the upgrade, or among
// the decrypted bytes a *tls.Conn holds. A caller should therefore call Next
// until it reports would block before it waits for the socket again.
//
// # Memory
//
// A Conn is meant to exist once per idle connection, hundreds of thousands
// at a time, so it is small and holds no read buffer while idle. A call to
// Next borrows a 16 KiB buffer from a pool. An event's payload is returned
// in place, in that buffer, which stays lent to the Conn until the next
// call goes on with it (or Release gives it back early); a call that
// returns an error, would block included, gives the buffer back. If a
// frame is only partly received, the Conn keeps a copy of just the bytes
// received (for a frame larger than the pool buffer: a buffer at most
// about twice their size, so that resuming stays linear). A fragmented
// message keeps its reassembly buffer only while it is in flight.
//
// Next must be called by one goroutine at a time; writes (to NetConn) may go
// on concurrently, since the reader and the writer share no state.
package wsserver
