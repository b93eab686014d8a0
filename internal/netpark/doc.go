// Package netpark lets a server keep idle TCP connections (carrying TLS and
// WebSocket) without a goroutine blocked in Read for each of them.
//
// A goroutine parked in tls.Conn.Read costs its stack on top of the
// connection's own state; with many mostly silent signaling connections
// the stacks are a large share of the memory (BenchmarkParkedIdle measures
// it). netpark removes them: the owner
// switches a [Conn] to nonblocking mode, reads until the read returns
// [ErrWouldBlock], then hands the Conn to a [Poller] and lets its goroutine
// end. When the socket has something to say (data, the peer's close, an
// error) the Poller calls back on a fresh goroutine, which reads again.
//
// crypto/tls keeps working across these pauses: ErrWouldBlock is a
// temporary net.Error, which tls.Conn does not remember as fatal, and a
// record that arrived only in part stays buffered inside the tls.Conn until
// the rest comes. The TLS handshake, though, must run in blocking mode:
// tls.Conn keeps any handshake error for good, ErrWouldBlock included.
//
// The one rule: a Conn is parked (given to Poller.Watch) only after a
// nonblocking Read by its outermost reader returned ErrWouldBlock. Any
// buffer above the socket (tls.Conn, bufio.Reader, a WebSocket reader) may
// otherwise hold bytes that no socket event will ever announce.
//
// The package owns the socket-level mechanics only: it does not read
// application data for the owner, apply timeouts, or close connections.
// On Linux the Poller is one epoll instance and one goroutine for all
// connections; elsewhere it falls back to a goroutine per watch (same
// behaviour, no memory saving).
package netpark
