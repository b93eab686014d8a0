// Package kvsapi holds the wire contract of the Kinesis Video Streams WebRTC
// signaling protocol as Switchboard speaks it: the JSON request and response
// members of the control plane and the HTTPS data plane, the WebSocket message
// envelopes, the catalog of AWS error names with their HTTP statuses, and the
// value rules (names, ARNs, client ids, tags) every server and client checks.
//
// The package depends on the standard library only, so that SDK users can
// import it without pulling in the server. It performs no I/O.
//
// Field names and enum values are reproduced exactly because the official
// clients match them byte for byte (spec sections 1.2, 3, 4, 5 and 6).
package kvsapi
