package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// TestSendAlexaOfferToMaster sends an offer through the HTTPS data plane
// of the real server, signed by the Go SDK: the connected master receives
// it from the sender's client id, answers over its WebSocket, and the
// REST call returns that answer. Bad input is refused as such before the
// channel is looked up, and the limits of WebSocket messages apply.
func TestSendAlexaOfferToMaster(t *testing.T) {
	sc := newAlexaScene(t, serverOptions{})
	srv, kvs, ctx := sc.srv, sc.kvs, sc.ctx
	master := connect(t, "master", srv.signalingConfig(t, kvs, sc.arn, kvsapi.RoleMaster, ""))

	offer := rawPayload("offer", "alexa-1", "master")
	answer := rawPayload("answer", "master", "alexa-1")
	type result struct {
		answer string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		a, err := kvs.SendAlexaOfferToMaster(ctx, sc.url, sc.arn, "alexa-1", offer)
		done <- result{a, err}
	}()
	master.expect(kvsapi.ActionSDPOffer, "alexa-1", offer)
	master.send(kvsapi.ActionSDPAnswer, "alexa-1", answer, "")
	if r := <-done; r.err != nil || r.answer != answer {
		t.Fatalf("SendAlexaOfferToMaster = %d bytes, %v; want the master's answer", len(r.answer), r.err)
	}

	missing := strings.Replace(sc.arn, "alexa-cam", "no-such-cam", 1)
	tooLong := strings.Repeat("A", kvsapi.MaxMessagePayloadLength+4)
	for _, tc := range []struct {
		name, arn, sender, payload string
		check                      func(error) bool
		mention                    string
	}{
		{"payload not base64, unknown channel", missing, "alexa-2", "v=0 o=-", client.IsInvalidArgument, "MessagePayload"},
		{"bad sender id, unknown channel", missing, "alexa 2", offer, client.IsInvalidArgument, "SenderClientId"},
		{"payload over the limit", sc.arn, "alexa-2", tooLong, client.IsInvalidArgument, "signaling.max_payload_length"},
		{"unknown channel", missing, "alexa-2", offer, client.IsNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kvs.SendAlexaOfferToMaster(ctx, sc.url, tc.arn, tc.sender, tc.payload)
			if !tc.check(err) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("got %v; want the other error, mentioning %q", err, tc.mention)
			}
		})
	}
	if _, err := base64.StdEncoding.DecodeString(offer); err != nil {
		t.Fatalf("the test's offer is not base64: %v", err)
	}
}

// TestAlexaOfferWithdrawnWhenCallerGone: an offer waiting in the absent
// master's mailbox leaves it when its caller is gone, whether the caller
// gave up (its request cancelled) or the server stopped waiting for the
// answer; a master that connects later never receives it. An offer whose
// caller still waits reaches the late master and its answer comes back.
func TestAlexaOfferWithdrawnWhenCallerGone(t *testing.T) {
	t.Run("caller cancels", func(t *testing.T) {
		a := newAlexaScene(t, serverOptions{})
		callCtx, cancel := context.WithCancel(a.ctx)
		gone := a.send(callCtx, "alexa-gone")
		a.waitMailbox(1)
		cancel()
		if r := <-gone; !errors.Is(r.err, context.Canceled) {
			t.Fatalf("cancelled call returned %v", r.err)
		}
		a.waitMetric(`switchboard_signaling_alexa_offers_total{result="error"}`, 1)

		queued := a.metric("switchboard_signaling_mailbox_messages")
		waiting := a.send(a.ctx, "alexa-waiting")
		a.waitMailbox(queued + 1)
		master := a.connectMaster()
		if ev := master.next(); ev.SenderClientID != "alexa-waiting" {
			t.Fatalf("the late master first received %s from %q, whose caller gave up", ev.MessageType, ev.SenderClientID)
		}
		answer := rawPayload("answer", "master", "alexa-waiting")
		master.send(kvsapi.ActionSDPAnswer, "alexa-waiting", answer, "")
		if r := <-waiting; r.err != nil || r.answer != answer {
			t.Fatalf("waiting call = %d bytes, %v; want the master's answer", len(r.answer), r.err)
		}
	})
	t.Run("server stops waiting", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "switchboard.yaml")
		if err := os.WriteFile(path, []byte("signaling:\n  alexa_answer_timeout: 1s\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		a := newAlexaScene(t, serverOptions{args: []string{"--config", path}})
		if r := <-a.send(a.ctx, "alexa-gone"); !client.IsNotFound(r.err) {
			t.Fatalf("unanswered call returned %v, want ResourceNotFoundException", r.err)
		}
		master := a.connectMaster()
		viewer := connect(t, "viewer", a.srv.signalingConfig(t, a.kvs, a.arn, kvsapi.RoleViewer, "viewer-1"))
		marker := rawPayload("offer", "viewer-1", "master")
		viewer.send(kvsapi.ActionSDPOffer, "", marker, "")
		if ev := master.next(); ev.SenderClientID != "viewer-1" {
			t.Fatalf("the late master first received %s from %q, whose call had ended", ev.MessageType, ev.SenderClientID)
		}
	})
}

// alexaScene is a server with one channel, its master absent, and the
// Alexa calls made on it.
type alexaScene struct {
	t        *testing.T
	srv      *server
	kvs      *client.Client
	ctx      context.Context
	arn, url string
}

func newAlexaScene(t *testing.T, opts serverOptions) *alexaScene {
	srv := startServer(t, opts)
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
	return &alexaScene{t: t, srv: srv, kvs: kvs, ctx: ctx, arn: info.ChannelARN, url: eps.HTTPS}
}

type alexaResult struct {
	answer string
	err    error
}

// send calls SendAlexaOfferToMaster from sender in the background.
func (a *alexaScene) send(ctx context.Context, sender string) <-chan alexaResult {
	done := make(chan alexaResult, 1)
	go func() {
		answer, err := a.kvs.SendAlexaOfferToMaster(ctx, a.url, a.arn, sender, rawPayload("offer", sender, "master"))
		done <- alexaResult{answer, err}
	}()
	return done
}

func (a *alexaScene) connectMaster() *peer {
	return connect(a.t, "master", a.srv.signalingConfig(a.t, a.kvs, a.arn, kvsapi.RoleMaster, ""))
}

// waitMailbox waits until n messages wait in the server's mailboxes.
func (a *alexaScene) waitMailbox(n float64) {
	a.t.Helper()
	a.waitMetric("switchboard_signaling_mailbox_messages", n)
}

// metric returns the value of the series name on the server's /metrics.
func (a *alexaScene) metric(name string) float64 {
	a.t.Helper()
	return metricValue(a.srv.metricsText(a.t), name)
}

// waitMetric waits until the series name has the value want.
func (a *alexaScene) waitMetric(name string, want float64) {
	a.t.Helper()
	deadline := time.Now().Add(eventWait)
	for got := a.metric(name); got != want; got = a.metric(name) {
		if time.Now().After(deadline) {
			a.t.Fatalf("%s = %v, want %v", name, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
