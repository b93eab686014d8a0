package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestParseAPIError decodes error replies recorded from the real service,
// from the spec's client-parsing experiment and from Switchboard.
func TestParseAPIError(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		code    string
		message string
		id      string
	}{
		{"header with documentation URI, Message in body", 404,
			map[string]string{"x-amzn-ErrorType": "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.kinesis.video/"},
			`{"Message": "The requested channel is not found or not active."}`,
			"ResourceNotFoundException", "The requested channel is not found or not active.", ""},
		{"__type and lower-case message", 404, nil,
			`{"__type": "ResourceNotFoundException", "message": "not found (body __type)"}`,
			"ResourceNotFoundException", "not found (body __type)", ""},
		{"no type at all", 404, nil, `{"Message": "no type at all"}`, "", "no type at all", ""},
		{"Switchboard reply", 400,
			map[string]string{"x-amzn-ErrorType": "ResourceInUseException", "x-amzn-RequestId": "9b2c6f0e-1111-4222-8333-444455556666"},
			`{"__type":"ResourceInUseException","Message":"The signaling channel demo already exists."}`,
			"ResourceInUseException", "The signaling channel demo already exists.", "9b2c6f0e-1111-4222-8333-444455556666"},
		{"namespaced __type", 403, nil,
			`{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"The security token included in the request is invalid."}`,
			"UnrecognizedClientException", "The security token included in the request is invalid.", ""},
		{"proxy HTML page", 502, nil, "<html><body>Bad Gateway</body></html>", "", "<html><body>Bad Gateway</body></html>", ""},
		{"empty body", 503, nil, "", "", "Service Unavailable", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			e := parseAPIError(tc.status, h, []byte(tc.body))
			if e.Code != tc.code || e.Message != tc.message || e.Status != tc.status || e.RequestID != tc.id {
				t.Fatalf("got %+v", e)
			}
			if !strings.Contains(e.Error(), fmt.Sprintf("HTTP %d", tc.status)) {
				t.Fatalf("text %q lacks the status", e.Error())
			}
		})
	}
}

func TestAPIErrorHelpers(t *testing.T) {
	err := fmt.Errorf("client: DescribeSignalingChannel: %w", &APIError{Code: "ResourceNotFoundException", Status: 404, Message: "gone"})
	checks := []struct {
		name string
		got  bool
		want bool
	}{
		{"IsNotFound", IsNotFound(err), true},
		{"HasCode", HasCode(err, "ResourceNotFoundException"), true},
		{"errors.Is by code", errors.Is(err, &APIError{Code: "ResourceNotFoundException"}), true},
		{"errors.Is by status", errors.Is(err, &APIError{Status: 404}), true},
		{"errors.Is other code", errors.Is(err, &APIError{Code: "ResourceInUseException"}), false},
		{"errors.Is empty target", errors.Is(err, &APIError{}), false},
		{"IsResourceInUse", IsResourceInUse(err), false},
		{"IsThrottled", IsThrottled(&APIError{Code: "ClientLimitExceededException"}), true},
		{"IsAuthFailure signature", IsAuthFailure(&APIError{Code: "InvalidSignatureException"}), true},
		{"IsAuthFailure not found", IsAuthFailure(err), false},
		{"plain error", IsNotFound(errors.New("ResourceNotFoundException")), false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// quietTLSServer is an httptest TLS server that does not log the
// handshake failures some tests cause on purpose. (The transport errors
// of the REST client are tested against the real server in test/e2e.)
func quietTLSServer(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	return srv
}

func TestNewValidatesConfig(t *testing.T) {
	cases := []Config{
		{Region: "us-west-2", Credentials: testCreds},
		{Endpoint: "kinesisvideo.us-west-2.amazonaws.com", Region: "us-west-2", Credentials: testCreds},
		{Endpoint: "https://h?x=1", Region: "us-west-2", Credentials: testCreds},
		{Endpoint: "https://h", Credentials: testCreds},
		{Endpoint: "https://h", Region: "us-west-2"},
	}
	for _, cfg := range cases {
		if _, err := New(cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	if _, err := (StaticCredentials{AccessKeyID: "x"}).Retrieve(context.Background()); err == nil {
		t.Error("credentials without a secret accepted")
	}
}
