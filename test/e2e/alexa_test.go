package e2e

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// TestSendAlexaOfferToMaster sends an offer through the HTTPS data plane
// of the real server, signed by the Go SDK: the connected master receives
// it from the sender's client id, answers over its WebSocket, and the
// REST call returns that answer. Bad input is refused as such before the
// channel is looked up, and the limits of WebSocket messages apply.
func TestSendAlexaOfferToMaster(t *testing.T) {
	srv := startServer(t, serverOptions{})
	kvs := srv.goClient(t)
	ctx := testContext(t)
	info, err := kvs.EnsureChannel(ctx, "alexa-cam")
	if err != nil {
		t.Fatal(err)
	}
	eps, err := kvs.GetSignalingChannelEndpoint(ctx, info.ChannelARN, kvsapi.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	master := connect(t, "master", srv.signalingConfig(t, kvs, info.ChannelARN, kvsapi.RoleMaster, ""))

	offer := rawPayload("offer", "alexa-1", "master")
	answer := rawPayload("answer", "master", "alexa-1")
	type result struct {
		answer string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		a, err := kvs.SendAlexaOfferToMaster(ctx, eps.HTTPS, info.ChannelARN, "alexa-1", offer)
		done <- result{a, err}
	}()
	master.expect(kvsapi.ActionSDPOffer, "alexa-1", offer)
	master.send(kvsapi.ActionSDPAnswer, "alexa-1", answer, "")
	if r := <-done; r.err != nil || r.answer != answer {
		t.Fatalf("SendAlexaOfferToMaster = %d bytes, %v; want the master's answer", len(r.answer), r.err)
	}

	missing := strings.Replace(info.ChannelARN, "alexa-cam", "no-such-cam", 1)
	tooLong := strings.Repeat("A", kvsapi.MaxMessagePayloadLength+4)
	for _, tc := range []struct {
		name, arn, sender, payload string
		check                      func(error) bool
		mention                    string
	}{
		{"payload not base64, unknown channel", missing, "alexa-2", "v=0 o=-", client.IsInvalidArgument, "MessagePayload"},
		{"bad sender id, unknown channel", missing, "alexa 2", offer, client.IsInvalidArgument, "SenderClientId"},
		{"payload over the limit", info.ChannelARN, "alexa-2", tooLong, client.IsInvalidArgument, "signaling.max_payload_length"},
		{"unknown channel", missing, "alexa-2", offer, client.IsNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kvs.SendAlexaOfferToMaster(ctx, eps.HTTPS, tc.arn, tc.sender, tc.payload)
			if !tc.check(err) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("got %v; want the other error, mentioning %q", err, tc.mention)
			}
		})
	}
	if _, err := base64.StdEncoding.DecodeString(offer); err != nil {
		t.Fatalf("the test's offer is not base64: %v", err)
	}
}
