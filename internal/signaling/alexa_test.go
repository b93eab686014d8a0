package signaling

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Values of the SendAlexaOfferToMaster capture.
const (
	alexaOffer  = "dj0wDQpvPS0gMCAwIElOIElQNCAxMjcuMC4wLjENCg=="
	alexaAnswer = "dj0wDQo="
)

type alexaResult struct {
	answer string
	err    error
}

func sendAlexa(e *testEnv, ctx context.Context, sender string) chan alexaResult {
	out := make(chan alexaResult, 1)
	go func() {
		a, err := e.hub.SendAlexaOffer(ctx, testAccount, testARN, sender, alexaOffer)
		out <- alexaResult{a, err}
	}()
	return out
}

func waitAlexa(t *testing.T, ch chan alexaResult) alexaResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("SendAlexaOffer did not return")
	}
	return alexaResult{}
}

// TestSendAlexaOffer: the offer reaches the connected master with the
// sender id, and the master's answer is returned verbatim.
func TestSendAlexaOffer(t *testing.T) {
	e := newEnv(t, nil)
	master := e.dial("")
	res := sendAlexa(e, context.Background(), "alexa-1")
	master.expect(toMaster("alexa-1", kvsapi.ActionSDPOffer, alexaOffer))
	master.send(jsMsg(kvsapi.ActionICECandidate, candPayload, "alexa-1", "")) // ignored
	master.send(jsMsg(kvsapi.ActionSDPAnswer, alexaAnswer, "alexa-1", ""))
	if r := waitAlexa(t, res); r.err != nil || r.answer != alexaAnswer {
		t.Fatalf("SendAlexaOffer = %q, %v; want %q", r.answer, r.err, alexaAnswer)
	}
	if _, n := e.hub.Presence(testAccount, testARN); n != 0 {
		t.Fatalf("the Alexa pseudo viewer is counted: %d viewers", n)
	}
}

// TestSendAlexaOfferMasterLate: the offer waits in the master's mailbox and
// is answered when the master connects within the timeout.
func TestSendAlexaOfferMasterLate(t *testing.T) {
	e := newEnv(t, nil)
	res := sendAlexa(e, context.Background(), "alexa-2")
	waitFor(t, "offer queued", func() bool { return e.metric("mailbox_messages") == 1 })
	master := e.dial("")
	master.expect(toMaster("alexa-2", kvsapi.ActionSDPOffer, alexaOffer))
	master.send(jsMsg(kvsapi.ActionSDPAnswer, alexaAnswer, "alexa-2", ""))
	if r := waitAlexa(t, res); r.err != nil || r.answer != alexaAnswer {
		t.Fatalf("SendAlexaOffer = %q, %v", r.answer, r.err)
	}
}

// TestSendAlexaOfferErrors: timeouts and invalid input give the spec's
// errors.
func TestSendAlexaOfferErrors(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AlexaAnswerTimeout = Duration(200 * time.Millisecond) })
	r := waitAlexa(t, sendAlexa(e, context.Background(), "alexa-3"))
	if !kvsapi.HasCode(r.err, kvsapi.CodeResourceNotFound) || r.err.(*kvsapi.Error).Message != "master not connected" {
		t.Fatalf("no master: %v, want ResourceNotFoundException master not connected", r.err)
	}
	master := e.dial("")
	res := sendAlexa(e, context.Background(), "alexa-4")
	master.expect(toMaster("alexa-3", kvsapi.ActionSDPOffer, alexaOffer)) // the first offer, still within its TTL
	master.expect(toMaster("alexa-4", kvsapi.ActionSDPOffer, alexaOffer))
	if r := waitAlexa(t, res); !kvsapi.HasCode(r.err, kvsapi.CodeResourceNotFound) {
		t.Fatalf("master never answers: %v, want ResourceNotFoundException", r.err)
	}

	e.dial("busy-viewer")
	ctx := context.Background()
	for _, tc := range []struct {
		name, arn, sender, payload string
		code                       kvsapi.ErrorCode
	}{
		{"bad ARN", "arn:nope", "alexa", alexaOffer, kvsapi.CodeInvalidArgument},
		{"bad sender", testARN, "alexa 1", alexaOffer, kvsapi.CodeInvalidArgument},
		{"empty payload", testARN, "alexa", "", kvsapi.CodeInvalidArgument},
		{"payload not base64", testARN, "alexa", "v=0 o=-", kvsapi.CodeInvalidArgument},
		{"unknown channel", "arn:aws:kinesisvideo:us-west-2:111122223333:channel/x/1", "alexa", alexaOffer, kvsapi.CodeResourceNotFound},
		{"other account", "arn:aws:kinesisvideo:us-west-2:999999999999:channel/x/1", "alexa", alexaOffer, kvsapi.CodeResourceNotFound},
		{"sender id held by a viewer", testARN, "busy-viewer", alexaOffer, kvsapi.CodeClientLimitExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.hub.SendAlexaOffer(ctx, testAccount, tc.arn, tc.sender, tc.payload)
			if !kvsapi.HasCode(err, tc.code) {
				t.Fatalf("err = %v, want %s", err, tc.code.Name)
			}
		})
	}

	cctx, cancel := context.WithCancel(ctx)
	res = sendAlexa(e, cctx, "alexa-5")
	master.expect(toMaster("alexa-5", kvsapi.ActionSDPOffer, alexaOffer))
	cancel()
	if r := waitAlexa(t, res); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled: %v", r.err)
	}
}

// TestSendAlexaOfferRateLimit: 5 per second per channel by default.
func TestSendAlexaOfferRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.AlexaOffersPerSecondPerChannel = 0.001
		c.AlexaOfferBurstPerChannel = 1
		c.AlexaAnswerTimeout = Duration(50 * time.Millisecond)
	})
	if r := waitAlexa(t, sendAlexa(e, context.Background(), "a1")); !kvsapi.HasCode(r.err, kvsapi.CodeResourceNotFound) {
		t.Fatalf("first call: %v", r.err)
	}
	if r := waitAlexa(t, sendAlexa(e, context.Background(), "a2")); !kvsapi.HasCode(r.err, kvsapi.CodeClientLimitExceeded) {
		t.Fatalf("second call: %v, want ClientLimitExceededException", r.err)
	}
}
