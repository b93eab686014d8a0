package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/kvsapi"
	"github.com/switchboard-rtc/switchboard/sigv4"
)

const (
	testARN    = "arn:aws:kinesisvideo:us-west-2:111122223333:channel/demo/1700000000000"
	testKey    = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var testCreds = StaticCredentials{AccessKeyID: testKey, SecretAccessKey: testSecret}

func testVerifier() *sigv4.Verifier {
	return &sigv4.Verifier{
		Service: "kinesisvideo",
		Region:  "us-west-2",
		Lookup: func(_ context.Context, id string) (string, error) {
			if id != testKey {
				return "", sigv4.ErrUnknownAccessKey
			}
			return testSecret, nil
		},
	}
}

// presignedRequest builds the signed connect URL of cfg as the server
// receives it.
func presignedRequest(t *testing.T, cfg SignalingConfig) *http.Request {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	target, err := signalingURL(cfg.Endpoint, cfg.ChannelARN, cfg.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	c := &SignalingClient{cfg: cfg, target: target}
	signed, err := c.presign(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(signed.String(), "wss://") {
		t.Fatalf("signed URL %s lost its scheme", signed)
	}
	return httptest.NewRequest(http.MethodGet, "https://"+signed.Host+signed.RequestURI(), nil)
}

func TestPresignedURLVerifies(t *testing.T) {
	cases := []struct {
		name       string
		cfg        SignalingConfig
		wantPath   string
		wantClient string
	}{
		{"master", SignalingConfig{Endpoint: "wss://127.0.0.1:8443", Role: kvsapi.RoleMaster}, "/", ""},
		{"viewer", SignalingConfig{Endpoint: "wss://signal.example.com", Role: kvsapi.RoleViewer, ClientID: "viewer-1"}, "/", "viewer-1"},
		{"endpoint with path", SignalingConfig{Endpoint: "wss://signal.example.com/kvs/viewer", Role: kvsapi.RoleViewer, ClientID: "v.2_x"}, "/kvs/viewer", "v.2_x"},
		{"temporary credentials", SignalingConfig{Endpoint: "wss://h:1", Role: kvsapi.RoleMaster,
			Credentials: StaticCredentials{AccessKeyID: testKey, SecretAccessKey: testSecret, SessionToken: "FwoGZX+/token=="}}, "/", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.ChannelARN, cfg.Region = testARN, "us-west-2"
			if cfg.Credentials == nil {
				cfg.Credentials = testCreds
			}
			r := presignedRequest(t, cfg)
			res, err := testVerifier().VerifyPresigned(r)
			if err != nil {
				t.Fatalf("verify %s: %v", r.URL, err)
			}
			q := r.URL.Query()
			if r.URL.Path != tc.wantPath || q.Get(kvsapi.QueryChannelARN) != testARN || q.Get(kvsapi.QueryClientID) != tc.wantClient {
				t.Fatalf("URL %s: path or KVS parameters wrong", r.URL)
			}
			if _, has := q[kvsapi.QueryClientID]; has != (tc.wantClient != "") {
				t.Fatalf("URL %s: X-Amz-ClientId presence wrong", r.URL)
			}
			if q.Get("X-Amz-Expires") != "299" || q.Get("X-Amz-SignedHeaders") != "host" {
				t.Fatalf("URL %s: expiry or signed headers wrong", r.URL)
			}
			creds, _ := cfg.Credentials.Retrieve(context.Background())
			if res.SessionToken != creds.SessionToken || q.Get("X-Amz-Security-Token") != creds.SessionToken {
				t.Fatalf("session token %q, want %q in the query", res.SessionToken, creds.SessionToken)
			}
		})
	}
}

// TestPresignSignsKVSParameters changes each KVS parameter after signing:
// the signature must no longer verify, so they are inside the canonical
// query.
func TestPresignSignsKVSParameters(t *testing.T) {
	cfg := SignalingConfig{Endpoint: "wss://h", Role: kvsapi.RoleViewer, ClientID: "viewer-1", ChannelARN: testARN,
		Region: "us-west-2", Credentials: StaticCredentials{AccessKeyID: testKey, SecretAccessKey: testSecret, SessionToken: "tok"}}
	for _, param := range []string{kvsapi.QueryChannelARN, kvsapi.QueryClientID, "X-Amz-Security-Token"} {
		r := presignedRequest(t, cfg)
		q := r.URL.Query()
		q.Set(param, q.Get(param)+"x")
		r.URL.RawQuery = q.Encode()
		_, err := testVerifier().VerifyPresigned(r)
		if !errors.Is(err, sigv4.ErrSignatureMismatch) {
			t.Errorf("%s changed: got %v, want a signature mismatch", param, err)
		}
	}
}

func TestSignalingConfigValidation(t *testing.T) {
	good := SignalingConfig{Endpoint: "wss://h", ChannelARN: testARN, Role: kvsapi.RoleViewer, ClientID: "v1", Region: "us-west-2", Credentials: testCreds}
	cases := []struct {
		name   string
		change func(*SignalingConfig)
		want   string
	}{
		{"no endpoint", func(c *SignalingConfig) { c.Endpoint = "" }, "Endpoint"},
		{"bad ARN", func(c *SignalingConfig) { c.ChannelARN = "demo" }, "ChannelARN"},
		{"bad role", func(c *SignalingConfig) { c.Role = "viewer" }, "Role"},
		{"viewer without id", func(c *SignalingConfig) { c.ClientID = "" }, "ClientID"},
		{"reserved id", func(c *SignalingConfig) { c.ClientID = "AWS_x" }, "reserved"},
		{"master with id", func(c *SignalingConfig) { c.Role = kvsapi.RoleMaster }, "viewers"},
		{"no region", func(c *SignalingConfig) { c.Region = "" }, "Region"},
		{"no credentials", func(c *SignalingConfig) { c.Credentials = nil }, "Credentials"},
		{"expiry too long", func(c *SignalingConfig) { c.PresignExpiry = 8 * 24 * time.Hour }, "PresignExpiry"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			_, err := cfg.withDefaults()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	for _, endpoint := range []string{"ftp://h", "wss://", "wss://h/?a=b"} {
		if _, err := signalingURL(endpoint, testARN, ""); err == nil {
			t.Errorf("endpoint %q accepted", endpoint)
		}
	}
	if _, err := good.withDefaults(); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
}

func TestBackoffIsBoundedAndJittered(t *testing.T) {
	base := 100 * time.Millisecond
	for n := range 12 {
		ceiling := min(base<<n, maxReconnectBackoff)
		for range 50 {
			if d := backoff(base, n); d <= 0 || d > ceiling+time.Millisecond {
				t.Fatalf("attempt %d: delay %s outside (0, %s]", n, d, ceiling)
			}
		}
	}
	if d := backoff(time.Minute, 3); d > time.Minute+time.Millisecond {
		t.Fatalf("a base above the cap is the cap: %s", d)
	}
}
