package e2e

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// These tests give our Go client the wrong clock of a device that booted
// without a real-time clock or before NTP: an hour ahead of the server and
// an hour behind, far outside the 15 minutes REST signatures and the
// 5 minutes presigned URLs may be off. The server counts every refusal in
// its metrics, which is how the tests see how many tries the client made.

// deviceClock is a local clock that is off by a settable amount, as a
// device's is until NTP sets it right.
type deviceClock struct{ off atomic.Int64 }

func newDeviceClock(off time.Duration) *deviceClock {
	c := &deviceClock{}
	c.set(off)
	return c
}

func (c *deviceClock) set(off time.Duration) { c.off.Store(int64(off)) }
func (c *deviceClock) now() time.Time        { return time.Now().Add(time.Duration(c.off.Load())) }

// skewedClient is our REST client for srv with the device's clock and the
// given secret.
func (s *server) skewedClient(t *testing.T, clock func() time.Time, secret string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{
		Endpoint:    s.Endpoint,
		Region:      testRegion,
		Credentials: client.StaticCredentials{AccessKeyID: testAccessKey, SecretAccessKey: secret},
		TLSConfig:   s.TLSConfig(),
		Clock:       clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// refusals reads the server's count of REST calls of op refused with
// InvalidSignatureException and of WebSocket handshakes refused at
// authentication.
type refusals struct{ rest, signaling float64 }

func (s *server) refusals(t *testing.T, op string) refusals {
	t.Helper()
	text := s.metricsText(t)
	rest := metricValue(text, `switchboard_api_requests_total{error="InvalidSignatureException",operation="`+op+`"}`)
	ws := metricValue(text, `switchboard_signaling_refusals_total{reason="auth"}`)
	return refusals{rest: max(rest, 0), signaling: max(ws, 0)}
}

// wantRefusals checks how many refusals the server counted since before.
func (s *server) wantRefusals(t *testing.T, op string, before refusals, rest, signaling float64) {
	t.Helper()
	now := s.refusals(t, op)
	if got := now.rest - before.rest; got != rest {
		t.Errorf("%s refused %v times for its signature, want %v", op, got, rest)
	}
	if got := now.signaling - before.signaling; got != signaling {
		t.Errorf("signaling handshakes refused %v times for their signature, want %v", got, signaling)
	}
}

// checkSkewLearned checks that the client adds the opposite of the
// device's error to its clock, to within the second the Date header has.
func checkSkewLearned(t *testing.T, kvs *client.Client, deviceOff time.Duration) {
	t.Helper()
	if got := kvs.ClockSkew(); (got + deviceOff).Abs() > 3*time.Second {
		t.Fatalf("ClockSkew() = %s for a device clock off by %s", got, deviceOff)
	}
}

// TestGoClientCorrectsClockSkew: with the device's clock an hour ahead or
// behind, the first REST call is refused once for its signing time, then
// succeeds on its one retry; later calls are signed with the corrected
// clock and never refused. When NTP sets the device's clock right, the
// correction is learned again, after one more refusal.
func TestGoClientCorrectsClockSkew(t *testing.T) {
	srv := startServer(t, serverOptions{args: []string{noRateLimits}})
	for _, tc := range []struct {
		name string
		off  time.Duration
	}{{"ahead", time.Hour}, {"behind", -time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			dev := newDeviceClock(tc.off)
			kvs := srv.skewedClient(t, dev.now, testSecret)
			ctx := testContext(t)
			name := "skew-" + tc.name

			before := srv.refusals(t, "CreateSignalingChannel")
			created, err := kvs.CreateSignalingChannel(ctx, &kvsapi.CreateSignalingChannelInput{ChannelName: &name})
			if err != nil {
				t.Fatalf("create with the clock %s: %v", tc.name, err)
			}
			srv.wantRefusals(t, "CreateSignalingChannel", before, 1, 0)
			checkSkewLearned(t, kvs, tc.off)

			before = srv.refusals(t, "DescribeSignalingChannel")
			info, err := kvs.DescribeSignalingChannel(ctx, name)
			if err != nil || info.ChannelARN != created.ChannelARN {
				t.Fatalf("describe after the correction: %+v %v", info, err)
			}
			srv.wantRefusals(t, "DescribeSignalingChannel", before, 0, 0)

			dev.set(0) // NTP has synced: the learned offset is now wrong
			before = srv.refusals(t, "DescribeSignalingChannel")
			if _, err := kvs.DescribeSignalingChannel(ctx, name); err != nil {
				t.Fatalf("describe after the device's clock was set right: %v", err)
			}
			srv.wantRefusals(t, "DescribeSignalingChannel", before, 1, 0)
			checkSkewLearned(t, kvs, 0)
		})
	}

	t.Run("concurrent first calls", func(t *testing.T) {
		kvs := srv.skewedClient(t, newDeviceClock(time.Hour).now, testSecret)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				_, err := kvs.DescribeSignalingChannel(testContext(t), "skew-ahead")
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent describe: %v", err)
			}
		}
		checkSkewLearned(t, kvs, time.Hour)
	})
}

// TestSignalingClientCorrectsClockSkew: a master whose clock is an hour
// ahead and a viewer whose clock is an hour behind each have their first
// presigned URL refused once, connect on the retry and exchange messages.
// After GO_AWAY at the server's maximum connection duration they reconnect
// with URLs presigned on the corrected clock, which the server accepts at
// once.
func TestSignalingClientCorrectsClockSkew(t *testing.T) {
	srv, kvs, arn := signalingServer(t, "  max_connection_duration: 4s\n  go_away_grace: 1s\n", "skewed")
	before := srv.refusals(t, "none")

	masterCfg := srv.signalingConfig(t, kvs, arn, kvsapi.RoleMaster, "")
	masterCfg.Clock = newDeviceClock(time.Hour).now
	masterCfg.Reconnect = true
	master := connect(t, "master", masterCfg)
	viewerCfg := srv.signalingConfig(t, kvs, arn, kvsapi.RoleViewer, "viewer-1")
	viewerCfg.Clock = newDeviceClock(-time.Hour).now
	viewerCfg.Reconnect = true
	viewer := connect(t, "viewer", viewerCfg)
	srv.wantRefusals(t, "none", before, 0, 2)
	exchangeOfferAndAnswer(master, viewer)

	for _, p := range []*peer{master, viewer} {
		p.expect(kvsapi.MessageGoAway, "", "")
		p.expectState(client.StateReconnecting)
		p.expectState(client.StateConnected)
	}
	srv.wantRefusals(t, "none", before, 0, 2)
	exchangeOfferAndAnswer(master, viewer)
}

// TestPeersShareTheCorrectedClock: a Master and a Viewer on clients whose
// clocks are an hour off learn the correction from their first REST call
// and presign their signaling URLs with it, so no handshake is refused;
// they connect and exchange data-channel messages. A viewer whose clock is
// ten minutes ahead, which REST accepts and a presigned URL does not, is
// corrected by its handshake's refusal, and its Client keeps that
// correction for REST.
func TestPeersShareTheCorrectedClock(t *testing.T) {
	srv := startServer(t, serverOptions{args: []string{noRateLimits}})
	masterKVS := srv.skewedClient(t, newDeviceClock(time.Hour).now, testSecret)
	viewerKVS := srv.skewedClient(t, newDeviceClock(-time.Hour).now, testSecret)
	before := srv.refusals(t, "DescribeSignalingChannel")

	// Each peer is built before it runs, so that its callbacks, which
	// use it, see it assigned.
	var master *client.Master
	master, err := client.NewMaster(client.MasterConfig{
		Client: masterKVS, Channel: "shared-clock", CreateChannel: true, ICE: loopbackICE(false),
		OnMessage: func(viewerID string, data []byte) {
			_ = master.Send(viewerID, append([]byte("pong:"), data...))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, "master", master.Run)
	var reply atomic.Value
	var viewer *client.Viewer
	viewer, err = client.NewViewer(client.ViewerConfig{
		Client: viewerKVS, Channel: "shared-clock", CreateChannel: true, ICE: loopbackICE(false), DataChannel: true,
		OnDataChannelOpen: func() { _ = viewer.Send([]byte("ping")) },
		OnMessage:         func(data []byte) { reply.Store(string(data)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, "viewer", viewer.Run)
	waitFor(t, 30*time.Second, "the data-channel reply", func() bool { return reply.Load() == "pong:ping" })
	checkSkewLearned(t, masterKVS, time.Hour)
	checkSkewLearned(t, viewerKVS, -time.Hour)
	// Each peer's first call (EnsureChannel describes first) was refused
	// once; its handshake never was.
	srv.wantRefusals(t, "DescribeSignalingChannel", before, 2, 0)

	before = srv.refusals(t, "DescribeSignalingChannel")
	lateKVS := srv.skewedClient(t, newDeviceClock(10*time.Minute).now, testSecret)
	late, err := client.NewViewer(client.ViewerConfig{
		Client: lateKVS, Channel: "shared-clock", ClientID: "ten-minutes-ahead", ICE: loopbackICE(false), DataChannel: true,
		OnDataChannelOpen: func() { reply.Store("late viewer open") },
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, "late viewer", late.Run)
	waitFor(t, 30*time.Second, "the late viewer's data channel", func() bool { return reply.Load() == "late viewer open" })
	srv.wantRefusals(t, "DescribeSignalingChannel", before, 0, 1)
	checkSkewLearned(t, lateKVS, 10*time.Minute)
}

// TestClockSkewRetryOnlyForTime: a refusal for another reason (a wrong
// secret) is returned at once, without a second try; with a wrong clock
// too, the client corrects the clock once and then returns the signature
// mismatch, without looping.
func TestClockSkewRetryOnlyForTime(t *testing.T) {
	srv, _, arn := signalingChannel(t, "wrong-secret")
	const wrongSecret = "wrong-secret-0000000000000000000000000000"
	for _, tc := range []struct {
		name  string
		off   time.Duration
		tries float64
	}{{"right clock", 0, 1}, {"clock an hour ahead", time.Hour, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newDeviceClock(tc.off).now
			kvs := srv.skewedClient(t, clock, wrongSecret)
			before := srv.refusals(t, "DescribeSignalingChannel")
			_, err := kvs.DescribeSignalingChannel(testContext(t), "wrong-secret")
			if !client.HasCode(err, kvsapi.CodeInvalidSignature.Name) {
				t.Fatalf("describe with a wrong secret: %v", err)
			}
			srv.wantRefusals(t, "DescribeSignalingChannel", before, tc.tries, 0)

			cfg := srv.signalingConfig(t, srv.goClient(t), arn, kvsapi.RoleMaster, "")
			cfg.Credentials = client.StaticCredentials{AccessKeyID: testAccessKey, SecretAccessKey: wrongSecret}
			cfg.Clock = clock
			before = srv.refusals(t, "DescribeSignalingChannel")
			sc, err := client.DialSignaling(testContext(t), cfg)
			if err == nil {
				_ = sc.Close()
				t.Fatal("a handshake with a wrong secret was accepted")
			}
			var apiErr *client.APIError
			if !errors.As(err, &apiErr) || apiErr.Code != kvsapi.CodeInvalidSignature.Name {
				t.Fatalf("dial with a wrong secret: %v", err)
			}
			srv.wantRefusals(t, "DescribeSignalingChannel", before, 0, tc.tries)
		})
	}
}
