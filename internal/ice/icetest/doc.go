// Package icetest holds test helpers for the ICE/TURN side: two pion/webrtc
// peers that may only connect through a TURN relay and must then move a
// payload intact over a data channel. Its own tests run them against an
// ice.Service; the end-to-end tests run them against the real server with
// the ICE servers GetIceServerConfig returned. It is not part of the server.
//
// The peers stay on loopback: no host candidates (relay policy), no mDNS.
package icetest
