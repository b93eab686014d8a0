package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// eventWait bounds how long a test waits for one signaling event.
const eventWait = 10 * time.Second

// peer is a master or viewer connected through the public Go client.
type peer struct {
	t    *testing.T
	name string
	*client.SignalingClient
}

// signalingConfig is the client configuration of a role on a channel,
// with the endpoint the server hands out for that role.
func (s *server) signalingConfig(t *testing.T, kvs *client.Client, arn, role, clientID string) client.SignalingConfig {
	t.Helper()
	eps, err := kvs.GetSignalingChannelEndpoint(testContext(t), arn, role)
	if err != nil {
		t.Fatalf("endpoint for %s: %v", role, err)
	}
	return client.SignalingConfig{
		Endpoint:    eps.WSS,
		ChannelARN:  arn,
		Role:        role,
		ClientID:    clientID,
		Region:      testRegion,
		Credentials: client.StaticCredentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret},
		TLSConfig:   s.TLSConfig(),
		// Fast retries keep the reconnect tests short.
		ReconnectBackoff: 50 * time.Millisecond,
	}
}

// connect dials cfg and waits for StateConnected.
func connect(t *testing.T, name string, cfg client.SignalingConfig) *peer {
	t.Helper()
	sc, err := client.DialSignaling(testContext(t), cfg)
	if err != nil {
		t.Fatalf("%s: dial: %v", name, err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	p := &peer{t: t, name: name, SignalingClient: sc}
	if ev := p.next(); !ev.IsStateChange() || ev.State != client.StateConnected {
		t.Fatalf("%s: first event %+v, want StateConnected", name, ev)
	}
	return p
}

// next returns the next event, failing after eventWait.
func (p *peer) next() client.Event {
	p.t.Helper()
	select {
	case ev, ok := <-p.Events():
		if !ok {
			p.t.Fatalf("%s: event stream closed (Err: %v)", p.name, p.Err())
		}
		return ev
	case <-time.After(eventWait):
		p.t.Fatalf("%s: no event within %s", p.name, eventWait)
	}
	return client.Event{}
}

// expect returns the next event and checks its type, sender and exact
// payload (an empty want payload is not checked).
func (p *peer) expect(messageType, sender, payload string) client.Event {
	p.t.Helper()
	ev := p.next()
	if ev.MessageType != messageType || ev.SenderClientID != sender || payload != "" && ev.MessagePayload != payload {
		p.t.Fatalf("%s: got %s from %q (payload %d bytes, state %s, err %v); want %s from %q with the payload sent",
			p.name, ev.MessageType, ev.SenderClientID, len(ev.MessagePayload), ev.State, ev.Err, messageType, sender)
	}
	return ev
}

// expectState returns the next event, which must be a change to s.
func (p *peer) expectState(s client.State) client.Event {
	p.t.Helper()
	ev := p.next()
	if !ev.IsStateChange() || ev.State != s {
		p.t.Fatalf("%s: got %s (state %s, err %v), want state %s", p.name, ev.MessageType, ev.State, ev.Err, s)
	}
	return ev
}

// expectQuiet checks that nothing arrives for d.
func (p *peer) expectQuiet(d time.Duration) {
	p.t.Helper()
	select {
	case ev, ok := <-p.Events():
		if ok {
			p.t.Fatalf("%s: unexpected %s from %q (state %s, err %v)", p.name, ev.MessageType, ev.SenderClientID, ev.State, ev.Err)
		}
	case <-time.After(d):
	}
}

// send sends a message with a payload and fails the test on error.
func (p *peer) send(action, recipient, payload, correlation string) {
	p.t.Helper()
	err := p.Send(context.Background(), kvsapi.ClientMessage{
		Action: action, RecipientClientID: recipient, MessagePayload: payload, CorrelationID: correlation,
	})
	if err != nil {
		p.t.Fatalf("%s: send %s: %v", p.name, action, err)
	}
}

// rawPayload is the payload of a JSON document sent exactly as written:
// C SDK spacing, escapes and non-ASCII text, so that any re-encoding on
// the way would show.
func rawPayload(kind, from, to string) string {
	doc := fmt.Sprintf(`{"type": %q, "sdp": "v=0\r\no=- 46117 2 IN IP4 127.0.0.1\r\ns=%s to %s \u00e9\u2713 +/=\r\n"}`, kind, from, to)
	return base64.StdEncoding.EncodeToString([]byte(doc))
}

// exchangeOfferAndAnswer relays an offer from viewer-1 to the master and
// its answer back.
func exchangeOfferAndAnswer(master, viewer *peer) {
	offer := rawPayload("offer", "viewer-1", "master")
	viewer.send(kvsapi.ActionSDPOffer, "", offer, "")
	master.expect(kvsapi.ActionSDPOffer, "viewer-1", offer)
	answer := rawPayload("answer", "master", "viewer-1")
	master.send(kvsapi.ActionSDPAnswer, "viewer-1", answer, "")
	viewer.expect(kvsapi.ActionSDPAnswer, "", answer)
}

// candidatePayload is an ICE candidate payload made with the client's
// helper.
func candidatePayload(t *testing.T, n int) string {
	t.Helper()
	mid, line := "0", uint16(0)
	p, err := client.EncodePayload(client.ICECandidate{
		Candidate: fmt.Sprintf("candidate:%d 1 udp 2122260223 192.0.2.%d 5000%d typ host", n, n, n),
		SDPMid:    &mid, SDPMLineIndex: &line,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
