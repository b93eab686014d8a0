package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/switchboard-rtc/switchboard/internal/config"
)

// Keys of the test servers' two accounts.
const (
	rootKeyID      = "AKIAQUOTAROOT0000000"
	rootSecret     = "quota-root-secret-0000000000"
	otherAccount   = "444455556666"
	otherKeyID     = "AKIAQUOTAOTHER000000"
	otherSecret    = "quota-other-secret-000000000"
	quotaTestPause = time.Second // what the stopped clock is moved by
)

// stoppedClock is a clock that moves only when told to, so that the
// rate limits refill only when a test says so.
type stoppedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stoppedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stoppedClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// quotaServer is a whole server whose control-plane rate limits run on a
// stopped clock.
type quotaServer struct {
	addr, caFile string
	clock        *stoppedClock
}

func startQuotaServer(t *testing.T, mutate func(*config.Config)) *quotaServer {
	t.Helper()
	cfg := testConfig(t)
	cfg.Credentials = config.Keys{AccessKeyID: rootKeyID, SecretAccessKey: rootSecret}
	cfg.Accounts = []config.Account{{ID: otherAccount, AccessKeyID: otherKeyID, SecretAccessKey: otherSecret}}
	if mutate != nil {
		mutate(&cfg)
	}
	clock := &stoppedClock{now: time.Unix(1_700_000_000, 0)}
	addr := runApp(t, cfg, func(a *App) { a.now = clock.Now })
	return &quotaServer{addr: addr, caFile: filepath.Join(cfg.Server.DataDir, "tls", "ca.pem"), clock: clock}
}

// kvs is an AWS SDK for Go v2 client of the server with the given keys.
// Retries are off, so that every refusal reaches the test.
func (s *quotaServer) kvs(t *testing.T, keyID, secret string) *kinesisvideo.Client {
	t.Helper()
	pem, err := os.ReadFile(s.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(transport.CloseIdleConnections)
	return kinesisvideo.New(kinesisvideo.Options{
		Region:           "us-west-2",
		BaseEndpoint:     aws.String("https://" + s.addr),
		Credentials:      credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		HTTPClient:       &http.Client{Timeout: 30 * time.Second, Transport: transport},
		RetryMaxAttempts: 1,
	})
}

// wantThrottled checks that err is the SDK's view of a rate-limit
// refusal, and that its message says what it should.
func wantThrottled(t *testing.T, err error, mentions ...string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want ClientLimitExceededException", err)
	}
	var re *smithyhttp.ResponseError
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	if ae.ErrorCode() != "ClientLimitExceededException" || status != http.StatusBadRequest {
		t.Fatalf("got %s (HTTP %d) %q, want ClientLimitExceededException (HTTP 400)", ae.ErrorCode(), status, ae.ErrorMessage())
	}
	for _, m := range mentions {
		if !strings.Contains(ae.ErrorMessage(), m) {
			t.Errorf("message %q does not mention %q", ae.ErrorMessage(), m)
		}
	}
}

// notThrottled fails the test when err is a rate-limit refusal; any other
// outcome (success, not found) is the operation's own.
func notThrottled(t *testing.T, what string, err error) {
	t.Helper()
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ClientLimitExceededException" {
		t.Fatalf("%s: throttled: %s", what, ae.ErrorMessage())
	}
}

// TestChannelQuotaThroughTheSDK: with the default quotas, a channel takes
// five DescribeSignalingChannel calls at once whether they name it by
// name or by ARN, the sixth gets ClientLimitExceededException naming the
// limit and its settings, another channel is not affected, and the quota
// refills at five per second.
func TestChannelQuotaThroughTheSDK(t *testing.T) {
	srv := startQuotaServer(t, nil)
	kvs := srv.kvs(t, rootKeyID, rootSecret)
	ctx := t.Context()
	created, err := kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("cam")})
	if err != nil {
		t.Fatal(err)
	}
	byName := &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("cam")}
	byARN := &kinesisvideo.DescribeSignalingChannelInput{ChannelARN: created.ChannelARN}
	for i, in := range []*kinesisvideo.DescribeSignalingChannelInput{byName, byARN, byName, byARN, byName} {
		if _, err := kvs.DescribeSignalingChannel(ctx, in); err != nil {
			t.Fatalf("call %d of the burst: %v", i+1, err)
		}
	}
	const key = "control_plane.operations.DescribeSignalingChannel"
	for _, in := range []*kinesisvideo.DescribeSignalingChannelInput{byARN, byName} {
		_, err = kvs.DescribeSignalingChannel(ctx, in)
		wantThrottled(t, err, "DescribeSignalingChannel", "this channel", "limit 5 per second, burst 5",
			key+".channel_per_second", key+".channel_burst")
	}

	if _, err := kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("door")}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		_, err := kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("door")})
		if err != nil {
			t.Fatalf("call %d for another channel: %v", i+1, err)
		}
	}

	srv.clock.advance(quotaTestPause)
	if _, err := kvs.DescribeSignalingChannel(ctx, byARN); err != nil {
		t.Fatalf("after the quota refilled: %v", err)
	}
}

// TestAccountQuotaThroughTheSDK: DescribeSignalingChannel takes 300 calls
// at once per account, across channels; the 301st is refused with the
// account limit, and another account keeps its own quota.
func TestAccountQuotaThroughTheSDK(t *testing.T) {
	srv := startQuotaServer(t, nil)
	kvs := srv.kvs(t, rootKeyID, rootSecret)
	ctx := t.Context()
	describe := func(client *kinesisvideo.Client, i int) error {
		_, err := client.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String(fmt.Sprintf("ch-%d", i))})
		return err
	}
	for i := range 300 {
		notThrottled(t, fmt.Sprintf("call %d", i+1), describe(kvs, i))
	}
	const key = "control_plane.operations.DescribeSignalingChannel"
	wantThrottled(t, describe(kvs, 300), "this account", "limit 300 per second, burst 300", key+".account_per_second", key+".account_burst")
	notThrottled(t, "another account", describe(srv.kvs(t, otherKeyID, otherSecret), 0))
}

// TestRateLimitsOffThroughTheSDK: control_plane.rate_limits false lets
// any number of calls through.
func TestRateLimitsOffThroughTheSDK(t *testing.T) {
	srv := startQuotaServer(t, func(c *config.Config) { c.ControlPlane.RateLimits = false })
	kvs := srv.kvs(t, rootKeyID, rootSecret)
	ctx := t.Context()
	if _, err := kvs.CreateSignalingChannel(ctx, &kinesisvideo.CreateSignalingChannelInput{ChannelName: aws.String("cam")}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := kvs.DescribeSignalingChannel(ctx, &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("cam")}); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
}
