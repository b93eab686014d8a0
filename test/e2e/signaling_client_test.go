package e2e

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// signalingChannel starts a server, creates a channel with the public
// client and returns both.
func signalingChannel(t *testing.T, name string) (*server, *client.Client, string) {
	t.Helper()
	srv := startServer(t, serverOptions{})
	kvs := srv.goClient(t)
	info, err := kvs.EnsureChannel(testContext(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return srv, kvs, info.ChannelARN
}

// TestSignalingClientMasterAndViewers relays offers, answers and ICE
// candidates between a master and three viewers through the real server:
// the master learns who sent what, each viewer receives only what was
// addressed to it, and every payload arrives byte for byte.
func TestSignalingClientMasterAndViewers(t *testing.T) {
	srv, kvs, arn := signalingChannel(t, "relay")
	master := connect(t, "master", srv.signalingConfig(t, kvs, arn, kvsapi.RoleMaster, ""))
	ids := []string{"viewer-1", "viewer-2", "viewer-3"}
	viewers := make(map[string]*peer)
	for _, id := range ids {
		viewers[id] = connect(t, id, srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, id))
	}

	// Offers and candidates from every viewer; a viewer's recipient is
	// ignored by the server, so one viewer names another on purpose.
	for i, id := range ids {
		viewers[id].send(kvsapi.ActionSDPOffer, "viewer-3", rawPayload("offer", id, "master"), "")
		viewers[id].send(kvsapi.ActionICECandidate, "", candidatePayload(t, i+1), "")
	}
	got := map[string][]string{}
	for range 2 * len(ids) {
		ev := master.next()
		got[ev.SenderClientID] = append(got[ev.SenderClientID], ev.MessageType+" "+ev.MessagePayload)
	}
	for i, id := range ids {
		want := []string{kvsapi.ActionSDPOffer + " " + rawPayload("offer", id, "master"), kvsapi.ActionICECandidate + " " + candidatePayload(t, i+1)}
		if strings.Join(got[id], "\n") != strings.Join(want, "\n") {
			t.Fatalf("master got from %s:\n%s\nwant (in order):\n%s", id, strings.Join(got[id], "\n"), strings.Join(want, "\n"))
		}
	}

	// Answers and candidates from the master, each to one viewer.
	for i, id := range ids {
		master.send(kvsapi.ActionSDPAnswer, id, rawPayload("answer", "master", id), "")
		if err := master.SendICECandidate(testContext(t), id, client.ICECandidate{Candidate: fmt.Sprintf("candidate:%d 1 udp 1 192.0.2.99 9 typ host", 10+i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range ids {
		v := viewers[id]
		ev := v.expect(kvsapi.ActionSDPAnswer, "", rawPayload("answer", "master", id))
		if sd, err := ev.SessionDescription(); err != nil || sd.Type != "answer" || !strings.Contains(sd.SDP, "to "+id+" ") {
			t.Fatalf("%s: decoded answer %+v %v", id, sd, err)
		}
		ev = v.expect(kvsapi.ActionICECandidate, "", "")
		if c, err := ev.ICECandidate(); err != nil || !strings.HasPrefix(c.Candidate, fmt.Sprintf("candidate:%d ", 10+i)) {
			t.Fatalf("%s: decoded candidate %+v %v", id, c, err)
		}
	}
	for _, id := range ids {
		viewers[id].expectQuiet(300 * time.Millisecond)
	}
	master.expectQuiet(100 * time.Millisecond)
}

// TestSignalingClientLargePayloadExact sends a payload near the documented
// 10 000-character limit in both directions.
func TestSignalingClientLargePayloadExact(t *testing.T) {
	srv, kvs, arn := signalingChannel(t, "large")
	master := connect(t, "master", srv.signalingConfig(t, kvs, arn, kvsapi.RoleMaster, ""))
	viewer := connect(t, "viewer", srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "viewer-1"))
	sdp := strings.Repeat("a=candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host\r\n", 120)
	payload, err := client.EncodePayload(client.SessionDescription{Type: "offer", SDP: sdp})
	if err != nil {
		t.Fatal(err)
	}
	if len(payload) < 9000 || len(payload) > 9800 {
		t.Fatalf("test payload is %d characters; adjust it to stay near, and under, the limit", len(payload))
	}
	viewer.send(kvsapi.ActionSDPOffer, "", payload, "big-1")
	master.expect(kvsapi.ActionSDPOffer, "viewer-1", payload)
	master.send(kvsapi.ActionSDPOffer, "viewer-1", payload, "big-2")
	viewer.expect(kvsapi.ActionSDPOffer, "", payload)
}

// TestSignalingClientQueuedOffer: a viewer's offer and candidate sent
// before the master connects are delivered, in order, once it does; a
// master's offer to a viewer that is not connected yet likewise.
func TestSignalingClientQueuedOffer(t *testing.T) {
	srv, kvs, arn := signalingChannel(t, "queued")
	viewer := connect(t, "viewer", srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "early-viewer"))
	offer := rawPayload("offer", "early-viewer", "master")
	viewer.send(kvsapi.ActionSDPOffer, "", offer, "q-1")
	viewer.send(kvsapi.ActionICECandidate, "", candidatePayload(t, 7), "q-2")
	viewer.expectQuiet(300 * time.Millisecond) // queued, not refused

	master := connect(t, "master", srv.signalingConfig(t, kvs, arn, kvsapi.RoleMaster, ""))
	master.expect(kvsapi.ActionSDPOffer, "early-viewer", offer)
	master.expect(kvsapi.ActionICECandidate, "early-viewer", candidatePayload(t, 7))
	master.send(kvsapi.ActionSDPAnswer, "early-viewer", rawPayload("answer", "master", "early-viewer"), "")
	viewer.expect(kvsapi.ActionSDPAnswer, "", rawPayload("answer", "master", "early-viewer"))

	// The other way round: the master's offer waits for a viewer that
	// has not connected yet.
	offer = rawPayload("offer", "master", "late-viewer")
	master.send(kvsapi.ActionSDPOffer, "late-viewer", offer, "q-3")
	master.expectQuiet(300 * time.Millisecond)
	late := connect(t, "late viewer", srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "late-viewer"))
	late.expect(kvsapi.ActionSDPOffer, "", offer)
	viewer.expectQuiet(100 * time.Millisecond)
}

// TestSignalingClientStatusResponse: a refused message with a correlation
// id is answered with a STATUS_RESPONSE; without one, silently dropped;
// the connection stays usable.
func TestSignalingClientStatusResponse(t *testing.T) {
	srv, kvs, arn := signalingChannel(t, "status")
	master := connect(t, "master", srv.signalingConfig(t, kvs, arn, kvsapi.RoleMaster, ""))
	viewer := connect(t, "viewer", srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "viewer-1"))

	master.send(kvsapi.ActionSDPAnswer, "viewer-1", "not base64!", "")       // silent
	master.send(kvsapi.ActionSDPAnswer, "viewer-1", "not base64!", "corr-1") // answered
	ev := master.expect(kvsapi.MessageStatusResponse, "", "")
	sr := ev.StatusResponse
	if sr == nil || sr.CorrelationID != "corr-1" || sr.Success || sr.ErrorType != kvsapi.CodeInvalidArgument.Name || sr.StatusCode != "400" || sr.Description == "" {
		t.Fatalf("status response %+v", sr)
	}
	if err := ev.StatusError(); !client.IsInvalidArgument(err) {
		t.Fatalf("StatusError: %v", err)
	}
	master.send(kvsapi.ActionSDPAnswer, "AWS_reserved", base64.StdEncoding.EncodeToString([]byte(`{}`)), "corr-2")
	if ev := master.expect(kvsapi.MessageStatusResponse, "", ""); ev.StatusResponse.CorrelationID != "corr-2" {
		t.Fatalf("status response %+v", ev.StatusResponse)
	}

	viewer.send(kvsapi.ActionICECandidate, "", "%%%", "v-corr")
	if ev := viewer.expect(kvsapi.MessageStatusResponse, "", ""); ev.StatusResponse.CorrelationID != "v-corr" {
		t.Fatalf("viewer status response %+v", ev.StatusResponse)
	}
	answer := rawPayload("answer", "master", "viewer-1")
	master.send(kvsapi.ActionSDPAnswer, "viewer-1", answer, "corr-3")
	viewer.expect(kvsapi.ActionSDPAnswer, "", answer)
	master.expectQuiet(200 * time.Millisecond) // success: no STATUS_RESPONSE
}

// TestSignalingClientChannelDeleted: deleting the channel sends GO_AWAY;
// a reconnecting client tries again, is refused with 404 and stops with a
// clear error; a client without Reconnect stops at once.
func TestSignalingClientChannelDeleted(t *testing.T) {
	srv, kvs, arn := signalingChannel(t, "doomed")
	masterCfg := srv.signalingConfig(t, kvs, arn, kvsapi.RoleMaster, "")
	masterCfg.Reconnect = true
	master := connect(t, "master", masterCfg)
	viewer := connect(t, "viewer", srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "viewer-1"))

	if err := kvs.DeleteSignalingChannel(testContext(t), arn, ""); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	master.expect(kvsapi.MessageGoAway, "", "")
	if ev := master.expectState(client.StateReconnecting); !errors.Is(ev.Err, client.ErrDisconnected) {
		t.Fatalf("master reconnecting because %v", ev.Err)
	}
	ev := master.expectState(client.StateClosed)
	if !errors.Is(ev.Err, client.ErrReconnectFailed) || !client.IsNotFound(ev.Err) || !errors.Is(master.Err(), client.ErrReconnectFailed) {
		t.Fatalf("master stopped with %v, want a reconnect refused with ResourceNotFoundException", ev.Err)
	}
	if strings.Contains(ev.Err.Error(), "X-Amz-") {
		t.Fatalf("error leaks the presigned URL: %v", ev.Err)
	}
	t.Logf("master stopped after %s: %v", time.Since(start).Round(time.Millisecond), ev.Err)
	if _, open := <-master.Events(); open {
		t.Fatal("master's event stream still open")
	}

	viewer.expect(kvsapi.MessageGoAway, "", "")
	if ev := viewer.expectState(client.StateClosed); !errors.Is(ev.Err, client.ErrDisconnected) {
		t.Fatalf("viewer stopped with %v, want ErrDisconnected", ev.Err)
	}
	if err := viewer.SendOffer(testContext(t), "", client.SessionDescription{SDP: "v=0\r\n"}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("send after the end: %v", err)
	}
}

// TestSignalingClientReplaced: a second connection with the same viewer id
// takes over; the first gets GO_AWAY and a close saying it was replaced,
// and must not reconnect (it would evict the newer one).
func TestSignalingClientReplaced(t *testing.T) {
	srv, kvs, arn := signalingChannel(t, "takeover")
	master := connect(t, "master", srv.signalingConfig(t, kvs, arn, kvsapi.RoleMaster, ""))
	cfg := srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "viewer-1")
	cfg.Reconnect = true
	older := connect(t, "older", cfg)
	newer := connect(t, "newer", cfg)

	older.expect(kvsapi.MessageGoAway, "", "")
	ev := older.expectState(client.StateClosed)
	if !errors.Is(ev.Err, client.ErrReplaced) {
		t.Fatalf("older stopped with %v, want ErrReplaced", ev.Err)
	}
	answer := rawPayload("answer", "master", "viewer-1")
	master.send(kvsapi.ActionSDPAnswer, "viewer-1", answer, "")
	newer.expect(kvsapi.ActionSDPAnswer, "", answer)
	newer.expectQuiet(time.Second) // not displaced by a reconnecting older client
	if newer.State() != client.StateConnected {
		t.Fatalf("newer is %s", newer.State())
	}
}

// TestSignalingClientDialErrors: refusals at the handshake come back as
// API errors the caller can branch on.
func TestSignalingClientDialErrors(t *testing.T) {
	srv, kvs, arn := signalingServer(t, "  max_viewers_per_channel: 1\n", "dial-errors")
	connect(t, "viewer-1", srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "viewer-1"))
	if _, err := client.DialSignaling(testContext(t), srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "viewer-2")); !client.IsThrottled(err) {
		t.Fatalf("viewer over the limit: %v", err)
	}
	missing := srv.signalingConfig(t, kvs, arn, kvsapi.RoleMaster, "")
	missing.ChannelARN = strings.Replace(arn, "/dial-errors/", "/absent/", 1)
	if _, err := client.DialSignaling(testContext(t), missing); !client.IsNotFound(err) {
		t.Fatalf("unknown channel: %v", err)
	}
	badKey := srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "viewer-1")
	badKey.Credentials = client.StaticCredentials{AccessKeyID: testAccessKey, SecretAccessKey: "wrong"}
	if _, err := client.DialSignaling(testContext(t), badKey); !client.IsAuthFailure(err) {
		t.Fatalf("wrong secret: %v", err)
	}
	untrusted := srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "viewer-1")
	untrusted.TLSConfig = nil
	if _, err := client.DialSignaling(testContext(t), untrusted); !errors.Is(err, client.ErrUntrustedCertificate) {
		t.Fatalf("untrusted certificate: %v", err)
	}
}
