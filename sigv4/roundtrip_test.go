package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsv4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var (
	testNow        = time.Date(2026, 11, 21, 21, 6, 38, 0, time.UTC)
	longTermCreds  = Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	temporaryCreds = Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret, SessionToken: testToken}
)

// overTheWire serialises a client request and parses it back as a server
// would receive it.
func overTheWire(t *testing.T, r *http.Request) (*http.Request, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	if _, err := body.ReadFrom(got.Body); err != nil {
		t.Fatal(err)
	}
	return got, body.Bytes()
}

// newPost builds a JSON POST to target with body.
func newPost(t *testing.T, target, body string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	return r
}

// Targets exercising path and query canonicalisation.
var signTargets = []struct{ name, url string }{
	{"control plane", "https://127.0.0.1:8443/describeSignalingChannel"},
	{"data plane", "https://kinesisvideo.example.com/v1/get-ice-server-config"},
	{"root", "https://127.0.0.1:8443/"},
	{"empty path", "https://127.0.0.1:8443"},
	{"escaped path", "https://127.0.0.1:8443/a%20b/c%2Fd/%7Euser"},
	{"query", "https://127.0.0.1:8443/x?b=2&a=1&a=0&c=x%2Fy+z&e=%21%27%28%29%2A&empty="},
}

func TestSignThenVerify(t *testing.T) {
	for _, creds := range []Credentials{longTermCreds, temporaryCreds} {
		for _, tt := range signTargets {
			t.Run(tt.name+"/token="+creds.SessionToken, func(t *testing.T) {
				body := `{"ChannelName":"demo-channel"}`
				r := newPost(t, tt.url, body)
				if err := SignRequest(r, []byte(body), creds, testRegion, testService, testNow); err != nil {
					t.Fatal(err)
				}
				got, gotBody := overTheWire(t, r)
				res, err := verifierAt(testNow).VerifyRequest(got, gotBody)
				if err != nil {
					t.Fatalf("verify: %v\n%s", err, canonicalDebug(err))
				}
				if res.SessionToken != creds.SessionToken || !res.SignedAt.Equal(testNow) {
					t.Errorf("result = %+v", res)
				}
			})
		}
	}
}

// canonicalDebug returns the canonical request carried by a mismatch error.
func canonicalDebug(err error) string {
	if e, ok := err.(*Error); ok {
		return e.CanonicalRequest
	}
	return ""
}

// SignRequest must produce exactly the Authorization header of the AWS SDK
// for Go v2 signer when both sign the same headers.
func TestSignMatchesAWSSigner(t *testing.T) {
	signer := awsv4.NewSigner()
	for _, creds := range []Credentials{longTermCreds, temporaryCreds} {
		for _, tt := range signTargets {
			t.Run(tt.name+"/token="+creds.SessionToken, func(t *testing.T) {
				body := []byte(`{"ChannelARN":"arn:aws:kinesisvideo:us-west-2:111122223333:channel/demo-channel/1700000000000"}`)
				ours := newPost(t, tt.url, string(body))
				if err := SignRequest(ours, body, creds, testRegion, testService, testNow); err != nil {
					t.Fatal(err)
				}
				theirs := newPost(t, tt.url, string(body))
				theirs.ContentLength = 0 // the AWS signer would sign content-length; we do not
				err := signer.SignHTTP(context.Background(), awsCreds(creds), theirs, hashHex(body),
					testService, testRegion, testNow)
				if err != nil {
					t.Fatal(err)
				}
				if a, b := ours.Header.Get("Authorization"), theirs.Header.Get("Authorization"); a != b {
					t.Errorf("Authorization differs:\n ours: %s\n aws:  %s", a, b)
				}
			})
		}
	}
}

func awsCreds(c Credentials) aws.Credentials {
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
}

// The Verifier accepts requests signed by the AWS SDK for Go v2 signer, which
// signs content-length and every other header it is given.
func TestVerifyAWSSignedRequest(t *testing.T) {
	signer := awsv4.NewSigner()
	for _, creds := range []Credentials{longTermCreds, temporaryCreds} {
		for _, tt := range signTargets {
			t.Run(tt.name+"/token="+creds.SessionToken, func(t *testing.T) {
				body := []byte(`{"MaxResults": 1}`)
				r := newPost(t, tt.url, string(body))
				r.Header.Set("Amz-Sdk-Request", "attempt=1;  max=3")
				r.Header.Add("X-Repeated", " one ")
				r.Header.Add("X-Repeated", "two")
				if err := signer.SignHTTP(context.Background(), awsCreds(creds), r, hashHex(body),
					testService, testRegion, testNow); err != nil {
					t.Fatal(err)
				}
				got, gotBody := overTheWire(t, r)
				res, err := verifierAt(testNow.Add(time.Minute)).VerifyRequest(got, gotBody)
				if err != nil {
					t.Fatalf("verify: %v\n%s", err, canonicalDebug(err))
				}
				if res.SessionToken != creds.SessionToken {
					t.Errorf("SessionToken = %q", res.SessionToken)
				}
			})
		}
	}
}

const testChannelARN = "arn:aws:kinesisvideo:us-west-2:111122223333:channel/demo-channel/1700000000000"

// wsURL is a WebSocket connect URL before signing.
func wsURL(t *testing.T, clientID string) *url.URL {
	t.Helper()
	q := url.Values{"X-Amz-ChannelARN": {testChannelARN}}
	if clientID != "" {
		q.Set("X-Amz-ClientId", clientID)
	}
	u, err := url.Parse("wss://127.0.0.1:18443/?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// upgradeRequest is the handshake a client sends for a presigned URL.
func upgradeRequest(t *testing.T, u *url.URL) *http.Request {
	t.Helper()
	raw := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPresignThenVerify(t *testing.T) {
	tests := []struct {
		name     string
		creds    Credentials
		clientID string
		expires  time.Duration
	}{
		{"viewer with token", temporaryCreds, "viewer-1", 299 * time.Second},
		{"master long-term", longTermCreds, "", MaxPresignExpires},
		{"odd client id", temporaryCreds, "v 1+/~*", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signed, err := PresignURL(wsURL(t, tt.clientID), tt.creds, testRegion, testService, testNow, tt.expires)
			if err != nil {
				t.Fatal(err)
			}
			q := signed.Query()
			if q.Get("X-Amz-Security-Token") != tt.creds.SessionToken || q.Get("X-Amz-ClientId") != tt.clientID ||
				q.Get("X-Amz-ChannelARN") != testChannelARN || signed.Scheme != "wss" {
				t.Fatalf("presigned URL lost parameters: %s", signed)
			}
			res, err := verifierAt(testNow).VerifyPresigned(upgradeRequest(t, signed))
			if err != nil {
				t.Fatalf("verify %s: %v\n%s", signed, err, canonicalDebug(err))
			}
			if !res.Expires.Equal(testNow.Add(tt.expires)) || res.SessionToken != tt.creds.SessionToken {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

// Our presigned URL carries the same query as one presigned by the AWS SDK for
// Go v2 signer, and the Verifier accepts the AWS one.
func TestPresignMatchesAWSSigner(t *testing.T) {
	ours, err := PresignURL(wsURL(t, "viewer-1"), temporaryCreds, testRegion, testService, testNow, 299*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	u := wsURL(t, "viewer-1")
	q := u.Query()
	q.Set("X-Amz-Expires", "299")
	u.RawQuery = q.Encode()
	r, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	awsURL, _, err := awsv4.NewSigner().PresignHTTP(context.Background(), awsCreds(temporaryCreds), r,
		EmptyPayloadHash, testService, testRegion, testNow)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := url.Parse(awsURL)
	if err != nil {
		t.Fatal(err)
	}
	if ours.RawQuery != theirs.RawQuery {
		t.Errorf("presigned queries differ:\n ours: %s\n aws:  %s", ours.RawQuery, theirs.RawQuery)
	}
	if _, err := verifierAt(testNow).VerifyPresigned(upgradeRequest(t, theirs)); err != nil {
		t.Fatalf("verify AWS-presigned URL: %v\n%s", err, canonicalDebug(err))
	}
}

func TestPresignURLRejects(t *testing.T) {
	u := wsURL(t, "viewer-1")
	tests := []struct {
		name    string
		u       *url.URL
		creds   Credentials
		region  string
		expires time.Duration
	}{
		{"zero expires", u, longTermCreds, testRegion, 0},
		{"sub-second expires", u, longTermCreds, testRegion, 999 * time.Millisecond},
		{"too long", u, longTermCreds, testRegion, MaxPresignExpires + time.Second},
		{"no secret", u, Credentials{AccessKeyID: testAccessKey}, testRegion, time.Minute},
		{"no region", u, longTermCreds, "", time.Minute},
		{"no host", &url.URL{Scheme: "wss", Path: "/"}, longTermCreds, testRegion, time.Minute},
		{"nil URL", nil, longTermCreds, testRegion, time.Minute},
		{"bad query", &url.URL{Scheme: "wss", Host: "h", RawQuery: "a=%zz"}, longTermCreds, testRegion, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := PresignURL(tt.u, tt.creds, tt.region, testService, testNow, tt.expires); err == nil {
				t.Fatalf("want an error, got %s", got)
			}
		})
	}
}

// PresignURL replaces signature parameters already present instead of
// signing them twice, and leaves its input alone.
func TestPresignURLReplacesOldSignature(t *testing.T) {
	first, err := PresignURL(wsURL(t, "viewer-1"), temporaryCreds, testRegion, testService, testNow, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	before := first.String()
	later := testNow.Add(time.Hour)
	second, err := PresignURL(first, longTermCreds, testRegion, testService, later, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if first.String() != before {
		t.Errorf("PresignURL modified its input")
	}
	if n := strings.Count(second.RawQuery, "X-Amz-Signature="); n != 1 || second.Query().Has("X-Amz-Security-Token") {
		t.Fatalf("re-signed URL: %s", second)
	}
	if _, err := verifierAt(later).VerifyPresigned(upgradeRequest(t, second)); err != nil {
		t.Fatal(err)
	}
}

func TestSignRequestRejects(t *testing.T) {
	tests := []struct {
		name  string
		r     *http.Request
		creds Credentials
	}{
		{"no access key", newPost(t, "https://h/x", ""), Credentials{SecretAccessKey: testSecret}},
		{"nil request", nil, longTermCreds},
		{"no host", &http.Request{Method: "POST", URL: &url.URL{Path: "/x"}}, longTermCreds},
		{"bad query", &http.Request{Method: "POST", URL: &url.URL{Host: "h", Path: "/x", RawQuery: "%zz"}}, longTermCreds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := SignRequest(tt.r, nil, tt.creds, testRegion, testService, testNow); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}
