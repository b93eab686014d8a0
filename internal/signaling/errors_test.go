package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// TestMessageErrors: every kind of invalid message gets its documented
// STATUS_RESPONSE when it has a correlation id, and nothing otherwise; the
// connection stays open and another connection keeps working throughout.
func TestMessageErrors(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.ICECandidatesPerSecond = 0.001 // no refill during the test
		c.ICECandidateBurst = 2
		// Markers use offers and answers, which stay unlimited here.
		c.SDPOffersPerSecond, c.SDPOfferBurst = 1e6, 1e6
		c.SDPAnswersPerSecond, c.SDPAnswerBurst = 1e6, 1e6
	})
	master := e.dial("")
	bad := e.dial("bad-viewer")
	good := e.dial("good-viewer")
	longID := strings.Repeat("v", 256)
	long := e.dial(longID)

	tooLong := strings.Repeat("QUJD", 2500) + "QQ==" // 10 004 characters
	maxSized := strings.Repeat("QUJD", 2500)         // 10 000: fits, but not with a 256-char sender id
	type sender int
	const (
		fromViewer sender = iota
		fromMaster
		fromLongViewer
	)
	tests := []struct {
		name   string
		from   sender
		frame  string
		corr   string // expected correlation id; "" means no reply at all
		code   kvsapi.ErrorCode
		reason string
	}{
		{"oversize payload", fromViewer, jsMsg("SDP_OFFER", tooLong, "", "c1"), "c1", kvsapi.CodeInvalidArgument, "payload_too_large"},
		{"event over the C SDK frame limit", fromLongViewer, jsMsg("SDP_OFFER", maxSized, "", "c2"), "c2", kvsapi.CodeInvalidArgument, "event_too_large"},
		{"malformed JSON", fromViewer, `{"action":"SDP_OFFER","correlationId":"c3","messagePayload":`, "c3", kvsapi.CodeInvalidArgument, "malformed_json"},
		{"wrong member type", fromViewer, `{"action":"SDP_OFFER","messagePayload":42,"CorrelationId":"c4"}`, "c4", kvsapi.CodeInvalidArgument, "malformed_json"},
		{"not an object", fromViewer, `["SDP_OFFER"]`, "", kvsapi.CodeInvalidArgument, "malformed_json"},
		{"unknown action", fromViewer, jsMsg("SDP_PRANSWER", offerPayload, "", "c5"), "c5", kvsapi.CodeInvalidArgument, "unknown_action"},
		{"missing action", fromViewer, `{"messagePayload":"YQ==","correlationId":"c6"}`, "c6", kvsapi.CodeInvalidArgument, "missing_action"},
		{"bad base64", fromViewer, jsMsg("ICE_CANDIDATE", "not base64!", "", "c7"), "c7", kvsapi.CodeInvalidArgument, "invalid_payload"},
		{"missing payload", fromViewer, `{"action":"ICE_CANDIDATE","correlationId":"c8"}`, "c8", kvsapi.CodeInvalidArgument, "missing_payload"},
		{"master without recipient", fromMaster, jsMsg("SDP_ANSWER", answerPayload, "", "c9"), "c9", kvsapi.CodeInvalidArgument, "missing_recipient"},
		{"master to reserved id", fromMaster, jsMsg("SDP_ANSWER", answerPayload, "AWS_X", "c10"), "c10", kvsapi.CodeInvalidArgument, "invalid_recipient"},
		{"invalid correlation id is silent", fromViewer, jsMsg("SDP_PRANSWER", offerPayload, "", "bad id!"), "", kvsapi.CodeInvalidArgument, "invalid_correlation_id"},
		{"no correlation id is silent", fromViewer, jsMsg("SDP_PRANSWER", offerPayload, "", ""), "", kvsapi.CodeInvalidArgument, "unknown_action"},
		{"ice within burst 1", fromViewer, jsMsg("ICE_CANDIDATE", "YzE=", "", "r1"), "", kvsapi.ErrorCode{}, ""},
		{"ice within burst 2", fromViewer, jsMsg("ICE_CANDIDATE", "YzI=", "", "r2"), "", kvsapi.ErrorCode{}, ""},
		{"rate limit exceeded", fromViewer, jsMsg("ICE_CANDIDATE", "YzM=", "", "r3"), "r3", kvsapi.CodeClientLimitExceeded, "rate_limited"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.metric("messages_rejected_total", "reason", tc.reason)
			from := map[sender]*client{fromViewer: bad, fromMaster: master, fromLongViewer: long}[tc.from]
			from.send(tc.frame)
			if tc.reason == "" { // accepted
				got := master.next()
				if !strings.Contains(got, `"senderClientId":"bad-viewer"`) {
					t.Fatalf("accepted message delivered as %s", got)
				}
			}
			// A marker from the same sender: it must be the next frame the
			// master sees, which proves the refused message went nowhere.
			if tc.from == fromMaster {
				master.send(jsMsg("SDP_OFFER", "bWFya2Vy", "good-viewer", ""))
				good.expect(toViewer("SDP_OFFER", "bWFya2Vy"))
			} else {
				from.send(jsMsg("SDP_OFFER", "bWFya2Vy", "", ""))
			}
			if tc.corr != "" {
				expectStatus(t, from.next(), tc.corr, tc.code)
			}
			if tc.from != fromMaster {
				id := map[sender]string{fromViewer: "bad-viewer", fromLongViewer: longID}[tc.from]
				master.expect(toMaster(id, "SDP_OFFER", "bWFya2Vy"))
			}
			// The sender received nothing but the reply (checked with a
			// marker from the master), and another viewer still works.
			if tc.from == fromViewer {
				master.send(jsMsg("SDP_OFFER", "ZW5k", "bad-viewer", ""))
				bad.expect(toViewer("SDP_OFFER", "ZW5k"))
			}
			good.send(jsMsg("SDP_ANSWER", answerPayload, "", ""))
			master.expect(toMaster("good-viewer", "SDP_ANSWER", answerPayload))
			if tc.reason != "" {
				if got := e.metric("messages_rejected_total", "reason", tc.reason) - before; got != 1 {
					t.Fatalf("messages_rejected_total{reason=%q} grew by %v, want 1", tc.reason, got)
				}
			}
		})
	}
	if got := e.metric("status_responses_total", "error_type", "ClientLimitExceededException"); got != 1 {
		t.Fatalf("status_responses_total{ClientLimitExceededException} = %v, want 1", got)
	}
}

// TestHandshakeRefusals: refusals happen before the upgrade, with the
// right status and the AWS error shape and headers.
func TestHandshakeRefusals(t *testing.T) {
	e := newEnv(t, nil)
	foreignARN := "arn:aws:kinesisvideo:us-west-2:444455556666:channel/demo-channel/1700000000000"
	e.dir.put("444455556666", foreignARN, time.Minute)
	tests := []struct {
		name   string
		url    string
		header http.Header
		code   kvsapi.ErrorCode
		reason string
	}{
		{"bad signature", e.url(testARN, "", "X-Test-Deny", "1"), nil, kvsapi.CodeInvalidSignature, "auth"},
		{"missing channel ARN", strings.Replace(e.url(testARN, "v1"), "X-Amz-ChannelARN", "X-Other", 1), nil, kvsapi.CodeInvalidArgument, "invalid_channel_arn"},
		{"malformed channel ARN", e.url("arn:aws:s3:::bucket", ""), nil, kvsapi.CodeInvalidArgument, "invalid_channel_arn"},
		{"unknown channel", e.url("arn:aws:kinesisvideo:us-west-2:111122223333:channel/nope/1", ""), nil, kvsapi.CodeResourceNotFound, "channel_not_found"},
		{"another account's channel", e.url(foreignARN, ""), nil, kvsapi.CodeResourceNotFound, "channel_not_found"},
		{"empty client id", e.url(testARN, "", kvsapi.QueryClientID, ""), nil, kvsapi.CodeInvalidArgument, "invalid_client_id"},
		{"reserved client id", e.url(testARN, "aws_viewer"), nil, kvsapi.CodeInvalidArgument, "invalid_client_id"},
		{"client id too long", e.url(testARN, strings.Repeat("x", 257)), nil, kvsapi.CodeInvalidArgument, "invalid_client_id"},
		{"client id bad characters", e.url(testARN, "viewer 1"), nil, kvsapi.CodeInvalidArgument, "invalid_client_id"},
		{"not an upgrade", e.url(testARN, ""), http.Header{"Upgrade": {"h2c"}}, kvsapi.CodeInvalidArgument, "not_websocket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := refusalResponse(t, tc.url, tc.header)
			if resp.StatusCode != tc.code.Status || body.Type != tc.code.Name || body.Message == "" {
				t.Fatalf("refusal = %d %+v, want %d %s", resp.StatusCode, body, tc.code.Status, tc.code.Name)
			}
			h := resp.Header
			if h.Get("x-amzn-ErrorType") != tc.code.Name || h.Get("Content-Type") != "application/json" ||
				h.Get("x-amzn-RequestId") == "" || h.Get("Date") == "" || h.Get("Content-Length") == "" {
				t.Fatalf("refusal headers incomplete: %v", h)
			}
			if got := e.metric("refusals_total", "reason", tc.reason); got < 1 {
				t.Fatalf("refusals_total{reason=%q} = %v", tc.reason, got)
			}
		})
	}
}

// TestConnectRateLimit: connects per channel beyond the burst are refused
// with ClientLimitExceededException; other channels are unaffected.
func TestConnectRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.ConnectsPerSecondPerChannel = 0.001
		c.ConnectBurstPerChannel = 3
		c.TakeoverHoldDown = 0
	})
	for range 3 {
		e.dial("v1")
	}
	resp, body := refusalResponse(t, e.url(testARN, "v1"), nil)
	if resp.StatusCode != http.StatusBadRequest || body.Type != kvsapi.CodeClientLimitExceeded.Name {
		t.Fatalf("4th connect in a burst of 3: %d %+v", resp.StatusCode, body)
	}
	if _, err := e.tryDial(e.url(otherARN, "v1"), nil, true); err != nil {
		t.Fatalf("another channel refused: %v", err)
	}
	if got := e.metric("refusals_total", "reason", "connect_rate"); got != 1 {
		t.Fatalf("connect_rate refusals = %v", got)
	}
}

// TestLimitMessagesNameTheSetting: every refusal by a configured limit
// names the limit's value and its setting (signaling.<key>), and stays
// far below the 1,024 bytes a KVS C SDK peer accepts in a description.
func TestLimitMessagesNameTheSetting(t *testing.T) {
	// statusOf sends frame with correlation id "c" and returns the
	// description of the STATUS_RESPONSE.
	statusOf := func(t *testing.T, c *client, frame string) string {
		t.Helper()
		c.send(frame)
		var ev struct{ StatusResponse kvsapi.StatusResponse }
		f := c.next()
		if err := json.Unmarshal([]byte(f), &ev); err != nil || ev.StatusResponse.CorrelationID != "c" {
			t.Fatalf("not the STATUS_RESPONSE of c: %s", f)
		}
		return ev.StatusResponse.Description
	}
	refusedWith := func(t *testing.T, e *testEnv, clientID string) string {
		t.Helper()
		_, body := refusalResponse(t, e.url(testARN, clientID), nil)
		return body.Message
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		refuse func(t *testing.T, e *testEnv) string
		want   []string
	}{
		{"connect rate", func(c *Config) { c.ConnectsPerSecondPerChannel, c.ConnectBurstPerChannel = 0.25, 1 },
			func(t *testing.T, e *testEnv) string { e.dial("v1"); return refusedWith(t, e, "v2") },
			[]string{"0.25", "signaling.connects_per_second_per_channel", "burst 1", "signaling.connect_burst_per_channel"}},
		{"viewer limit", func(c *Config) { c.MaxViewersPerChannel = 2 },
			func(t *testing.T, e *testEnv) string { e.dial("v1"); e.dial("v2"); return refusedWith(t, e, "v3") },
			[]string{"2", "signaling.max_viewers_per_channel"}},
		{"takeover hold-down", func(c *Config) { c.TakeoverHoldDown = Duration(42 * time.Second) },
			func(t *testing.T, e *testEnv) string { e.dial("v1"); e.dial("v1"); return refusedWith(t, e, "v1") },
			[]string{"42s", "signaling.takeover_hold_down"}},
		{"message rate", func(c *Config) { c.SDPOffersPerSecond, c.SDPOfferBurst = 0.5, 1 },
			func(t *testing.T, e *testEnv) string {
				v := e.dial("v1")
				v.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
				return statusOf(t, v, jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", "c"))
			},
			[]string{"0.5", "signaling.sdp_offers_per_second", "burst 1", "signaling.sdp_offer_burst"}},
		{"mailbox", func(c *Config) { c.MailboxMaxMessagesPerChannel = 1 },
			func(t *testing.T, e *testEnv) string {
				v := e.dial("v1")
				v.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
				return statusOf(t, v, jsMsg(kvsapi.ActionICECandidate, candPayload, "", "c"))
			},
			[]string{"1 message", "signaling.mailbox_max_messages_per_channel", "4194304 bytes", "signaling.mailbox_max_bytes_per_channel"}},
		{"payload length", func(c *Config) { c.MaxPayloadLength = 9800 },
			func(t *testing.T, e *testEnv) string {
				return statusOf(t, e.dial("v1"), jsMsg(kvsapi.ActionSDPOffer, strings.Repeat("QUJD", 2475), "", "c"))
			},
			[]string{"9800", "signaling.max_payload_length"}},
		{"event size", func(c *Config) { c.MaxEventBytes = 2000 },
			func(t *testing.T, e *testEnv) string {
				return statusOf(t, e.dial("v1"), jsMsg(kvsapi.ActionSDPOffer, strings.Repeat("QUJD", 500), "", "c"))
			},
			[]string{"2000", "signaling.max_event_bytes"}},
		{"Alexa offers per channel", func(c *Config) {
			c.AlexaOffersPerSecondPerChannel, c.AlexaOfferBurstPerChannel = 0.125, 1
			c.AlexaAnswerTimeout = Duration(10 * time.Millisecond)
		},
			func(t *testing.T, e *testEnv) string {
				_, _ = e.hub.SendAlexaOffer(context.Background(), testAccount, testARN, "a1", alexaOffer)
				_, err := e.hub.SendAlexaOffer(context.Background(), testAccount, testARN, "a2", alexaOffer)
				return apiMessage(err)
			},
			[]string{"0.125", "signaling.alexa_offers_per_second_per_channel", "burst 1", "signaling.alexa_offer_burst_per_channel"}},
		{"Alexa offers per account", func(c *Config) {
			c.AlexaOffersPerSecondPerAccount, c.AlexaOfferBurstPerAccount = 0.125, 1
			c.AlexaAnswerTimeout = Duration(10 * time.Millisecond)
		},
			func(t *testing.T, e *testEnv) string {
				_, _ = e.hub.SendAlexaOffer(context.Background(), testAccount, testARN, "a1", alexaOffer)
				_, err := e.hub.SendAlexaOffer(context.Background(), testAccount, otherARN, "a2", alexaOffer)
				return apiMessage(err)
			},
			[]string{"0.125", "signaling.alexa_offers_per_second_per_account", "burst 1", "signaling.alexa_offer_burst_per_account"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.refuse(t, newEnv(t, tc.mutate))
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
			if len(msg) > 300 {
				t.Errorf("message is %d bytes long: %q", len(msg), msg)
			}
		})
	}
}

// TestReadLimitCloseNamesTheSetting: the 1009 close for a frame over the
// read limit names the limit and its setting, like every other refusal by
// a configured limit (docs/architecture.md: limits from our configuration
// name the setting).
func TestReadLimitCloseNamesTheSetting(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ReadLimit = 20000 })
	huge := e.dial("huge")
	_ = huge.ws.Write(context.Background(), websocket.MessageText, []byte(strings.Repeat(" ", 20001)))
	select {
	case <-huge.done:
	case <-time.After(10 * time.Second):
		t.Fatal("oversized frame did not close the connection")
	}
	var ce websocket.CloseError
	if !errors.As(huge.err, &ce) || ce.Code != websocket.StatusMessageTooBig {
		t.Fatalf("close after an oversized frame: %v, want 1009", huge.err)
	}
	for _, w := range []string{"20000", "signaling.read_limit"} {
		if !strings.Contains(ce.Reason, w) {
			t.Errorf("close reason %q does not contain %q", ce.Reason, w)
		}
	}
}
