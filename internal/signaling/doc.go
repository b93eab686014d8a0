// Package signaling is the WebSocket data plane of the KVS signaling
// protocol (spec section 6): it accepts presigned WebSocket connections from
// masters and viewers, relays SDP offers, answers and ICE candidates between
// them, keeps undelivered messages for the channel's TTL, and enforces the
// per-connection and per-channel limits of spec section 8. It also offers
// the hub side of SendAlexaOfferToMaster (spec 5.2).
//
// The package owns connections and their hygiene (read limit, pings, idle
// timeout, write deadlines, bounded send queues, close reasons) and the
// routing rules. It does not own credentials, channel records or message
// storage: it consumes an Authenticator and a ChannelDirectory declared here
// and implemented by the application, and delivers every message through
// the bus contract (internal/bus), which also holds the mailboxes, so that a
// clustered bus can carry a message between nodes without changing the hub.
// It must not import the control plane, the configuration loader, the store
// or the auth package.
//
// An idle connection has no goroutine. Its socket is parked in a poller
// (internal/netpark: one epoll instance for all connections on Linux) and
// a reader goroutine is started when bytes arrive; it handles every
// complete frame (internal/wsserver reads frames without blocking, keeping
// a partial one) and parks the connection again when the socket is empty,
// or, for a connection that is busy, after a short linger in Go's own
// poller. Where sockets cannot be parked (other systems, other listeners)
// the reader keeps its goroutine. A writer goroutine runs only while the
// connection has something to write; server pings, pongs and the close
// handshake go through it too, and the connection's clocks share one
// timer. No lock is held across a network write: a sender hands a message
// to the recipient's bounded queue and returns. Frames written in one pass
// of the writer share a TLS record and a system call.
//
// Decisions the spec leaves open, as implemented here:
//   - A channel ARN of another account than the caller's answers 404
//     ResourceNotFoundException, exactly like an unknown channel, so that
//     channel existence never leaks across accounts.
//   - permessage-deflate is declined (spec 6.1 recommends it): the reply
//     carries no extension, and clients that offered it carry on without
//     compression.
//   - Binary frames close the connection with 1003; frames over the read
//     limit with 1009; frames that break RFC 6455 with 1002 (1007 for text
//     that is not UTF-8), counted as disconnects "protocol_error".
//     Everything else that is wrong with a message (bad
//     JSON, unknown action, bad base64, missing or invalid members, size,
//     rate) drops that message only, answered with a STATUS_RESPONSE when a
//     correlation id can be read, silently (but counted) otherwise.
//   - A connection whose identity is taken over receives GO_AWAY and is
//     closed; see Config.TakeoverHoldDown for how a loop between two
//     clients with one identity is prevented.
//   - A request that is not a valid WebSocket handshake is refused like
//     any other (AWS error shape; 400, or 426 for another WebSocket
//     version) before it can take an identity over. The mailbox is
//     handed to a connection only once its upgrade succeeded, so a
//     failed upgrade leaves the mail in the bus.
package signaling
