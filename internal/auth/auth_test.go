package auth

import (
	"bytes"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/kvsapi"
	"github.com/switchboard-rtc/switchboard/sigv4"
)

const region = "us-west-2"

var (
	rootKey = Credential{AccessKeyID: "AKIAROOTROOTROOT0000", SecretAccessKey: "root-secret-0000000000", Account: "111122223333"}
	tempKey = Credential{AccessKeyID: "ASIATEMPTEMPTEMP0000", SecretAccessKey: "temp-secret-0000000000", Account: "444455556666",
		SessionToken: "session-token-1", Expires: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
)

func newTestAuthenticator(t *testing.T, now time.Time) *Authenticator {
	t.Helper()
	src, err := NewStaticSource([]Credential{rootKey, tempKey})
	if err != nil {
		t.Fatal(err)
	}
	return NewAuthenticator(Options{Source: src, Region: region, Now: func() time.Time { return now }})
}

func signed(t *testing.T, cred Credential, token string, at time.Time) *http.Request {
	t.Helper()
	body := []byte(`{"ChannelName":"x"}`)
	r, _ := http.NewRequest(http.MethodPost, "https://localhost:8443/describeSignalingChannel", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	creds := sigv4.Credentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey, SessionToken: token}
	if err := sigv4.SignRequest(r, body, creds, region, SigningService, at); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSessionTokenBinding checks that a key's session token must come with
// it, that a key without one must come without, and that an expired
// temporary credential is refused even with a valid signature.
func TestSessionTokenBinding(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"ChannelName":"x"}`)
	cases := []struct {
		name    string
		cred    Credential
		token   string
		now     time.Time
		account string
		code    kvsapi.ErrorCode
	}{
		{"root key, no token", rootKey, "", now, "111122223333", kvsapi.ErrorCode{}},
		{"root key with a token", rootKey, "invented", now, "", kvsapi.CodeUnrecognizedClient},
		{"temporary key with its token", tempKey, "session-token-1", now, "444455556666", kvsapi.ErrorCode{}},
		{"temporary key with another token", tempKey, "session-token-2", now, "", kvsapi.CodeUnrecognizedClient},
		{"temporary key without a token", tempKey, "", now, "", kvsapi.CodeUnrecognizedClient},
		{"temporary key after it expired", tempKey, "session-token-1", tempKey.Expires.Add(time.Second), "", kvsapi.CodeUnrecognizedClient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAuthenticator(t, tc.now)
			p, err := a.Authenticate(signed(t, tc.cred, tc.token, tc.now), body)
			if tc.code.Name == "" {
				if err != nil || p.Account != tc.account || p.AccessKeyID != tc.cred.AccessKeyID {
					t.Fatalf("got %+v, %v", p, err)
				}
				return
			}
			if !kvsapi.HasCode(err, tc.code) {
				t.Fatalf("got %v, want %s", err, tc.code.Name)
			}
		})
	}
}

func TestPresignedAuthentication(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	base, _ := url.Parse("wss://localhost:8443/?X-Amz-ChannelARN=arn%3Aaws%3Akinesisvideo%3Aus-west-2%3A444455556666%3Achannel%2Fc%2F1&X-Amz-ClientId=v1")
	creds := sigv4.Credentials{AccessKeyID: tempKey.AccessKeyID, SecretAccessKey: tempKey.SecretAccessKey, SessionToken: tempKey.SessionToken}
	signedURL, err := sigv4.PresignURL(base, creds, region, SigningService, now, 299*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	request := func(u string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, u, nil)
		return r
	}
	a := newTestAuthenticator(t, now.Add(time.Minute))
	if account, err := a.AuthenticatePresigned(request(signedURL.String())); err != nil || account != "444455556666" {
		t.Fatalf("valid URL: %q %v", account, err)
	}
	late := newTestAuthenticator(t, now.Add(10*time.Minute))
	if _, err := late.AuthenticatePresigned(request(signedURL.String())); !kvsapi.HasCode(err, kvsapi.CodeInvalidSignature) {
		t.Fatalf("expired URL: %v", err)
	}
	tampered := signedURL.Query()
	tampered.Set("X-Amz-ClientId", "v2")
	u := *signedURL
	u.RawQuery = tampered.Encode()
	if _, err := a.AuthenticatePresigned(request(u.String())); !kvsapi.HasCode(err, kvsapi.CodeInvalidSignature) {
		t.Fatalf("tampered client id: %v", err)
	}
	if _, err := a.AuthenticatePresigned(request("wss://localhost:8443/")); !kvsapi.HasCode(err, kvsapi.CodeMissingAuthenticationToken) {
		t.Fatalf("no signature: %v", err)
	}
}

func TestStaticSourceRejectsBadConfiguration(t *testing.T) {
	for name, creds := range map[string][]Credential{
		"duplicate key": {rootKey, rootKey},
		"short key id":  {{AccessKeyID: "AK", SecretAccessKey: "root-secret-0000000000", Account: "111122223333"}},
		"short secret":  {{AccessKeyID: "AKIAROOTROOTROOT0000", SecretAccessKey: "s", Account: "111122223333"}},
		"bad account":   {{AccessKeyID: "AKIAROOTROOTROOT0000", SecretAccessKey: "root-secret-0000000000", Account: "12"}},
	} {
		if _, err := NewStaticSource(creds); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
