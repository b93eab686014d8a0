package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/bus"
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

// gatedWithdrawBus is the hub's real bus with a gate on Withdraw: the
// call waits until the test opens it.
type gatedWithdrawBus struct {
	bus.Bus
	*callGate
}

func (b *gatedWithdrawBus) Withdraw(ctx context.Context, addr bus.Address, env bus.Envelope) (bool, error) {
	if err := b.pass(ctx); err != nil {
		return false, err
	}
	return b.Bus.Withdraw(ctx, addr, env)
}

// TestSendAlexaOfferWithdrawSparesViewerOffer: a viewer that connects
// with the sender id of a pending offer ends the call, and the offer it
// sends replaces the pending one in the absent master's mailbox before
// the call withdraws its own. The withdrawal must not take the viewer's
// offer: the late master receives it.
func TestSendAlexaOfferWithdrawSparesViewerOffer(t *testing.T) {
	gate := &gatedWithdrawBus{callGate: newCallGate()}
	t.Cleanup(gate.release) // before the env's own cleanup, which shuts the hub down
	e := startEnv(t, nil, envOptions{parkable: true, wrapBus: func(b bus.Bus) bus.Bus { gate.Bus = b; return gate }})

	res := sendAlexa(e, context.Background(), "alexa-1")
	waitFor(t, "offer queued", func() bool { return e.bus.Stats().MailboxMessages == 1 })
	viewer := e.dial("alexa-1")
	select {
	case <-gate.entered: // the call ended and is withdrawing its offer
	case <-time.After(10 * time.Second):
		t.Fatal("the displaced call never withdrew its offer")
	}
	viewer.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
	waitFor(t, "the viewer's offer replacing the call's", func() bool { return e.bus.Stats().Replaced == 1 })
	gate.release()
	if r := waitAlexa(t, res); !kvsapi.HasCode(r.err, kvsapi.CodeClientLimitExceeded) {
		t.Fatalf("displaced call: %v, want ClientLimitExceededException", r.err)
	}
	master := e.dial("")
	master.expect(toMaster("alexa-1", kvsapi.ActionSDPOffer, offerPayload))
}

// TestSendAlexaOfferErrors: timeouts and invalid input give the spec's
// errors.
func TestSendAlexaOfferErrors(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AlexaAnswerTimeout = Duration(200 * time.Millisecond) })
	r := waitAlexa(t, sendAlexa(e, context.Background(), "alexa-3"))
	if !kvsapi.HasCode(r.err, kvsapi.CodeResourceNotFound) || r.err.(*kvsapi.Error).Message != "master not connected" {
		t.Fatalf("no master: %v, want ResourceNotFoundException master not connected", r.err)
	}
	// The first offer left the mailbox with its call, though its TTL
	// has not passed: nobody would take the master's answer.
	master := e.dial("")
	res := sendAlexa(e, context.Background(), "alexa-4")
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
		{"payload of base64 characters, not base64", testARN, "alexa", "Q", kvsapi.CodeInvalidArgument},
		{"unknown channel", "arn:aws:kinesisvideo:us-west-2:111122223333:channel/x/1", "alexa", alexaOffer, kvsapi.CodeResourceNotFound},
		{"other account", "arn:aws:kinesisvideo:us-west-2:999999999999:channel/x/1", "alexa", alexaOffer, kvsapi.CodeResourceNotFound},
		{"sender id held by a viewer", testARN, "busy-viewer", alexaOffer, kvsapi.CodeClientLimitExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.hub.SendAlexaOffer(ctx, testAccount, tc.arn, tc.sender, tc.payload)
			if !kvsapi.HasCode(err, tc.code) {
				t.Fatalf("err = %v, want %s", err, tc.code.Name)
			}
			// The text must say why the payload was refused: "Q" is made
			// of base64 characters, but is not base64.
			if strings.Contains(tc.name, "base64") && !strings.Contains(err.Error(), "base64") {
				t.Fatalf("err = %v, want a text that names base64", err)
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

// TestSendAlexaOfferPayloadLimits: SendAlexaOffer refuses what a
// WebSocket message would be refused for, with the same message: a
// payload over signaling.max_payload_length, and an offer whose event
// would be over signaling.max_event_bytes (the KVS C SDK's frame). The
// master receives nothing.
func TestSendAlexaOfferPayloadLimits(t *testing.T) {
	for _, tc := range []struct {
		name, sender, payload, reason string
		mutate                        func(*Config)
	}{
		{"over max_payload_length", "alexa-1", strings.Repeat("QUJD", 2475), "payload_too_large",
			func(c *Config) { c.MaxPayloadLength = 9800 }},
		{"event over max_event_bytes", strings.Repeat("a", 256), strings.Repeat("QUJD", 2500), "event_too_large", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) {
				c.AlexaAnswerTimeout = Duration(200 * time.Millisecond)
				if tc.mutate != nil {
					tc.mutate(c)
				}
			})
			master := e.dial("")
			_, err := e.hub.SendAlexaOffer(context.Background(), testAccount, testARN, tc.sender, tc.payload)
			if !kvsapi.HasCode(err, kvsapi.CodeInvalidArgument) {
				t.Fatalf("SendAlexaOffer = %v, want InvalidArgumentException", err)
			}
			// The same offer sent by a viewer with the same id.
			viewer := e.dial(tc.sender)
			viewer.send(jsMsg(kvsapi.ActionSDPOffer, tc.payload, "", "c1"))
			var ev struct{ StatusResponse kvsapi.StatusResponse }
			frame := viewer.next()
			if err := json.Unmarshal([]byte(frame), &ev); err != nil {
				t.Fatalf("not a STATUS_RESPONSE: %s", frame)
			}
			if got, want := err.(*kvsapi.Error).Message, ev.StatusResponse.Description; !strings.EqualFold(got, want) {
				t.Fatalf("SendAlexaOffer says %q, a WebSocket message %q", got, want)
			}
			if got := e.metric("messages_rejected_total", "reason", tc.reason); got != 1 {
				t.Fatalf("messages_rejected_total{%s} = %v, want 1", tc.reason, got)
			}
			// The master's first frame is this marker: no offer came before.
			viewer.send(jsMsg(kvsapi.ActionICECandidate, "bWFya2Vy", "", ""))
			master.expect(toMaster(tc.sender, kvsapi.ActionICECandidate, "bWFya2Vy"))
		})
	}
}

// TestSendAlexaOfferAccountRateLimit: besides the per-channel quota,
// SendAlexaOfferToMaster has one per account (spec 8, 100 per second).
func TestSendAlexaOfferAccountRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.AlexaOffersPerSecondPerAccount = 0.001 // no refill during the test
		c.AlexaOfferBurstPerAccount = 2
		c.AlexaAnswerTimeout = Duration(50 * time.Millisecond)
	})
	ctx := context.Background()
	for i, arn := range []string{testARN, otherARN} { // within each channel's quota
		if _, err := e.hub.SendAlexaOffer(ctx, testAccount, arn, "a"+strconv.Itoa(i), alexaOffer); !kvsapi.HasCode(err, kvsapi.CodeResourceNotFound) {
			t.Fatalf("call %d: %v, want ResourceNotFoundException (no master)", i, err)
		}
	}
	_, err := e.hub.SendAlexaOffer(ctx, testAccount, testARN, "a2", alexaOffer)
	if !kvsapi.HasCode(err, kvsapi.CodeClientLimitExceeded) || !strings.Contains(err.Error(), "signaling.alexa_offers_per_second_per_account") {
		t.Fatalf("third call of the account: %v, want ClientLimitExceededException naming the setting", err)
	}
}

// TestSendAlexaOfferAccountRefusalKeepsChannelToken: a call refused by the
// account's quota does not use up the channel's.
func TestSendAlexaOfferAccountRefusalKeepsChannelToken(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.AlexaOffersPerSecondPerChannel = 0.001 // no refill during the test
		c.AlexaOfferBurstPerChannel = 2
		c.AlexaOffersPerSecondPerAccount = 0.001
		c.AlexaOfferBurstPerAccount = 2
		c.AlexaAnswerTimeout = Duration(50 * time.Millisecond)
	})
	ctx := context.Background()
	for i, arn := range []string{testARN, otherARN} {
		if _, err := e.hub.SendAlexaOffer(ctx, testAccount, arn, "a"+strconv.Itoa(i), alexaOffer); !kvsapi.HasCode(err, kvsapi.CodeResourceNotFound) {
			t.Fatalf("call %d: %v, want ResourceNotFoundException (no master)", i, err)
		}
	}
	if _, err := e.hub.SendAlexaOffer(ctx, testAccount, testARN, "a2", alexaOffer); !kvsapi.HasCode(err, kvsapi.CodeClientLimitExceeded) {
		t.Fatalf("third call of the account: %v, want ClientLimitExceededException", err)
	}
	left := e.hub.alexaLimits.Tokens(channelKey(testAccount, testARN), e.hub.now())
	if left < 0.99 || left > 1.01 {
		t.Fatalf("the channel has %.3f calls left, want 1: the account's refusal took one", left)
	}
}
