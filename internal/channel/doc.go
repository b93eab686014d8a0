// Package channel is the domain core of signaling channels: it turns
// validated control-plane intents (create, describe, list, update, delete,
// tag) into store operations, and owns the rules around them: name, ARN and
// TTL checks, version tokens minted on every change, the channel limit per
// account, optimistic concurrency on CurrentVersion, list pagination tokens,
// and account isolation (a caller only ever sees channels of its own
// account and region).
//
// It knows nothing about HTTP or WebSockets; errors it returns are
// *kvsapi.Error values whose names and statuses go on the wire unchanged.
package channel
