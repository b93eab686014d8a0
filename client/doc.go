// Package client is Switchboard's Go SDK for the Kinesis Video Streams
// (KVS) WebRTC signaling protocol. It speaks only the public wire contract,
// so it works against a Switchboard server and against the real Amazon KVS
// service alike; nothing in it depends on the server's internals.
//
// The package owns two clients and two peers built on them:
//
//   - Client, a small REST client for the control plane (create, describe,
//     list and delete signaling channels, GetSignalingChannelEndpoint) and
//     for the HTTPS data plane (GetIceServerConfig, SendAlexaOfferToMaster).
//     Every request is a POST of a JSON object signed with SigV4 (service
//     "kinesisvideo"). Error replies become *APIError values; transport
//     failures are wrapped so that an untrusted certificate or an
//     unreachable endpoint can be told apart with errors.Is
//     (ErrUntrustedCertificate, ErrUnreachable).
//
//   - SignalingClient, a WebSocket client that connects to a channel as its
//     master or as a viewer with a SigV4-presigned URL, sends SDP offers,
//     answers and ICE candidates, and delivers what the server sends as a
//     stream of typed Events. It keeps the connection alive with pings,
//     reconnects after GO_AWAY or a dropped socket when asked to, and never
//     reconnects a connection the server replaced with a newer one of the
//     same identity (which would evict that newer connection in turn).
//     After GO_AWAY it opens the next connection before the old one is
//     closed, so that the server hands the identity over and no message in
//     flight is lost.
//
//   - Master and Viewer, WebRTC peers on pion/webrtc. A Master (a camera)
//     answers up to MasterConfig.MaxViewers viewers at once (10 by
//     default), one PeerConnection each, and sends them the frames of its
//     media sources (package media plays files); a Viewer offers,
//     trickles ICE candidates, receives audio and video frames and reports
//     ViewerStats, including the time to first frame and the ICE
//     hole-punching delay. Both take their TURN servers from
//     GetIceServerConfig (plus the STUN server KVS clients derive from the
//     region), can be forced onto relays, carry a data channel, ride out
//     signaling reconnections, and recover from lost paths (ICE restart) and
//     vanished peers (a new PeerConnection). The candidates they send carry
//     usernameFragment, the ufrag of the round of ICE they were gathered
//     in, as browsers' do; a received candidate whose usernameFragment (or
//     ufrag extension) is not the one of the applied remote description
//     belongs to a replaced PeerConnection or to the round before an ICE
//     restart, and is dropped. No user callback (OnViewer, OnMessage,
//     OnDataChannelOpen, OnFrame) runs after Run returns: Run waits for
//     calls under way, so a callback must not wait for Run.
//
// Message payloads travel as base64 text holding a JSON document
// ({"type":"offer","sdp":"..."} or an ICE candidate); EncodePayload,
// DecodePayload and the Event helpers convert between the two.
//
// Credentials come from a CredentialsProvider: StaticCredentials, or the
// AWS CLI's lookup (DefaultCredentials: the environment, then the shared
// config and credentials files, read by LoadSharedConfig).
//
// # Clock skew
//
// SigV4 signatures carry their time, and the service accepts a REST call
// signed within 15 minutes of its clock and a presigned connect URL signed
// at most 5 minutes ahead of it (and used within its expiry). A device
// that booted without a real-time clock, or before NTP synced, is often
// further off and would be refused for good. So, as the AWS SDKs and the
// KVS C SDK do, the clients correct their clock: when the service refuses
// a signature for its time alone (a 403 whose message says "Signature
// expired" or "Signature not yet current"), the client takes the
// difference between the reply's Date header and the local clock, keeps
// it, and sends the call or connect once more, signed on the corrected
// clock. Every later call and every reconnect is signed on it too. Only
// that refusal is retried, only once, and only when the reply has a Date
// header; anything else (a wrong secret, an unknown key) is returned at
// once. The offset is replaced at the next such refusal, so a device whose
// clock NTP sets right later is corrected back.
//
// A Client keeps one offset (Client.ClockSkew), shared by its REST calls
// and by the signaling connections of the Master and Viewer peers built on
// it, so whichever learns it first spares the other a refusal. A
// SignalingClient opened with DialSignaling keeps its own. Config.Clock and
// SignalingConfig.Clock replace the local clock, time.Now, for devices with
// a better source of time (or for tests); the correction applies on top.
//
// The package must not import anything under internal/: it depends on the
// standard library, kvsapi, sigv4, package media, github.com/coder/websocket
// and pion's WebRTC modules only.
package client
