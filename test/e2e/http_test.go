package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// rawCall is one hand-made request, signed with the AWS SDK's own signer.
type rawCall struct {
	path    string
	body    string
	at      time.Time // signing time; now when zero
	region  string
	service string
	secret  string
	// after runs on the signed request, to tamper with it.
	after func(r *http.Request)
}

func (s *server) raw(t *testing.T, c rawCall) (*http.Response, []byte) {
	t.Helper()
	if c.at.IsZero() {
		c.at = time.Now()
	}
	if c.region == "" {
		c.region = testRegion
	}
	if c.service == "" {
		c.service = "kinesisvideo"
	}
	if c.secret == "" {
		c.secret = testSecret
	}
	req, err := http.NewRequest(http.MethodPost, s.Endpoint+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(c.body))
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: c.secret},
		req, hex.EncodeToString(sum[:]), c.service, c.region, c.at)
	if err != nil {
		t.Fatal(err)
	}
	if c.after != nil {
		c.after(req)
	}
	return s.do(t, req)
}

func (s *server) do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// checkAWSReply asserts the headers every reply needs (spec 1.2-1.5) and,
// for errors, the error shape; it returns the error name ("" on success).
func checkAWSReply(t *testing.T, resp *http.Response, body []byte) string {
	t.Helper()
	if resp.ContentLength != int64(len(body)) || resp.Header.Get("Content-Length") == "" {
		t.Fatalf("Content-Length %q for a body of %d bytes", resp.Header.Get("Content-Length"), len(body))
	}
	if len(resp.TransferEncoding) > 0 || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("reply is chunked or compressed: %v %q", resp.TransferEncoding, resp.Header.Get("Content-Encoding"))
	}
	if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
		t.Fatalf("Date header %q: %v", resp.Header.Get("Date"), err)
	}
	if len(resp.Header.Get("x-amzn-RequestId")) != 36 {
		t.Fatalf("x-amzn-RequestId %q is not a UUID", resp.Header.Get("x-amzn-RequestId"))
	}
	if resp.StatusCode == http.StatusOK {
		return ""
	}
	var shape struct {
		Type    string `json:"__type"`
		Message string `json:"Message"`
	}
	if err := json.Unmarshal(body, &shape); err != nil || shape.Type == "" || shape.Message == "" {
		t.Fatalf("error body %q is not {__type, Message}: %v", body, err)
	}
	if h := resp.Header.Get("x-amzn-ErrorType"); h != shape.Type {
		t.Fatalf("x-amzn-ErrorType %q differs from __type %q", h, shape.Type)
	}
	return shape.Type
}

// TestSignatureChecksOverHTTP sends hand-signed requests, some tampered
// with after signing, and checks each refusal's name, status and wording.
func TestSignatureChecksOverHTTP(t *testing.T) {
	srv := startServer(t, serverOptions{})
	body := `{"ChannelName":"sig-test"}`
	cases := []struct {
		name     string
		call     rawCall
		status   int
		code     string
		contains string
	}{
		{"valid", rawCall{}, 404, "ResourceNotFoundException", "not found"},
		{"tampered body", rawCall{after: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"ChannelName":"sig-tesT"}`))
		}}, 403, "InvalidSignatureException", "signature"},
		{"tampered signed header", rawCall{after: func(r *http.Request) { r.Header.Set("Content-Type", "application/x-amz-json-1.1") }},
			403, "InvalidSignatureException", "signature"},
		{"tampered date", rawCall{after: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", time.Now().UTC().Add(time.Second).Format("20060102T150405Z"))
		}}, 403, "InvalidSignatureException", ""},
		{"other region", rawCall{region: "eu-west-1"}, 403, "InvalidSignatureException", "region"},
		{"other service", rawCall{service: "s3"}, 403, "InvalidSignatureException", "service"},
		{"wrong secret", rawCall{secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGKEY"}, 403, "InvalidSignatureException", "signature"},
		{"signed 20 minutes ago", rawCall{at: time.Now().Add(-20 * time.Minute)}, 403, "InvalidSignatureException", "Signature expired"},
		{"signed 20 minutes ahead", rawCall{at: time.Now().Add(20 * time.Minute)}, 403, "InvalidSignatureException", "Signature not yet current"},
		{"no authorization", rawCall{after: func(r *http.Request) { r.Header.Del("Authorization") }}, 403, "MissingAuthenticationTokenException", ""},
		{"malformed authorization", rawCall{after: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=") }},
			400, "IncompleteSignatureException", ""},
		{"unsigned session token for a key without one", rawCall{after: func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "made-up") }},
			403, "UnrecognizedClientException", "security token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			call := tc.call
			call.path, call.body = "/describeSignalingChannel", body
			resp, got := srv.raw(t, call)
			code := checkAWSReply(t, resp, got)
			if resp.StatusCode != tc.status || code != tc.code {
				t.Fatalf("got %d %s (%s), want %d %s", resp.StatusCode, code, got, tc.status, tc.code)
			}
			if !strings.Contains(string(got), tc.contains) {
				t.Fatalf("body %s does not contain %q", got, tc.contains)
			}
		})
	}
}

// TestHTTPConventions checks the reply conventions real clients depend on:
// headers on every reply, no chunking even for large bodies, CORS,
// unknown operations, malformed bodies, the body limit and HTTP/1.1.
func TestHTTPConventions(t *testing.T) {
	srv := startServer(t, serverOptions{args: []string{"--max-body-bytes", "4096"}})
	kvs := srv.kvs()
	for i := range 40 { // a List reply of ~14 KiB: beyond net/http's chunking threshold
		createChannel(t, kvs, fmt.Sprintf("conventions-channel-with-a-long-name-%02d", i))
	}
	t.Run("large reply has Content-Length", func(t *testing.T) {
		resp, body := srv.raw(t, rawCall{path: "/listSignalingChannels", body: "{}"})
		if checkAWSReply(t, resp, body) != "" || len(body) < 8192 {
			t.Fatalf("status %d, %d bytes", resp.StatusCode, len(body))
		}
	})
	t.Run("empty body counts as {}", func(t *testing.T) {
		resp, body := srv.raw(t, rawCall{path: "/listSignalingChannels", body: ""})
		if checkAWSReply(t, resp, body) != "" {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
	errorCases := []struct {
		name, path, body, code string
		status                 int
	}{
		{"unknown operation", "/createStream", "{}", "UnknownOperationException", 404},
		{"malformed JSON", "/describeSignalingChannel", `{"ChannelName":`, "SerializationException", 400},
		{"JSON that is not an object", "/describeSignalingChannel", `["x"]`, "SerializationException", 400},
		{"member of the wrong type", "/listSignalingChannels", `{"MaxResults":"ten"}`, "SerializationException", 400},
		{"body over the limit", "/createSignalingChannel", `{"ChannelName":"` + strings.Repeat("a", 5000) + `"}`, "InvalidArgumentException", 400},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := srv.raw(t, rawCall{path: tc.path, body: tc.body})
			if code := checkAWSReply(t, resp, body); code != tc.code || resp.StatusCode != tc.status {
				t.Fatalf("got %d %s, want %d %s: %s", resp.StatusCode, code, tc.status, tc.code, body)
			}
		})
	}
	t.Run("unknown GET path", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, srv.Endpoint+"/nothing-here", nil)
		resp, body := srv.do(t, req)
		if code := checkAWSReply(t, resp, body); code != "UnknownOperationException" || resp.StatusCode != 404 {
			t.Fatalf("got %d %s", resp.StatusCode, code)
		}
	})
	t.Run("CORS preflight needs no signature", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodOptions, srv.Endpoint+"/describeSignalingChannel", nil)
		req.Header.Set("Origin", "https://console.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,x-amz-date,x-amz-user-agent")
		resp, _ := srv.do(t, req)
		h := resp.Header
		if resp.StatusCode/100 != 2 || h.Get("Access-Control-Allow-Origin") != "https://console.example" ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "x-amz-user-agent") || h.Get("Access-Control-Max-Age") == "" {
			t.Fatalf("preflight: %d %v", resp.StatusCode, h)
		}
	})
	t.Run("CORS headers on replies", func(t *testing.T) {
		resp, _ := srv.raw(t, rawCall{path: "/describeSignalingChannel", body: `{}`, after: func(r *http.Request) { r.Header.Set("Origin", "https://console.example") }})
		exposed := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers"))
		for _, h := range []string{"x-amzn-requestid", "x-amzn-errortype", "date"} {
			if !strings.Contains(exposed, h) {
				t.Fatalf("Access-Control-Expose-Headers %q lacks %s", exposed, h)
			}
		}
	})
	t.Run("HTTP/1.1 is offered", func(t *testing.T) {
		cfg := srv.TLSConfig()
		cfg.NextProtos = []string{"http/1.1"}
		conn, err := tls.Dial("tcp", srv.Addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if p := conn.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
			t.Fatalf("negotiated %q", p)
		}
		fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", srv.Addr)
		reply, _ := io.ReadAll(conn)
		if !bytes.HasPrefix(reply, []byte("HTTP/1.1 200")) {
			t.Fatalf("reply %q", reply)
		}
	})
	t.Run("metrics count operations by error", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, srv.Endpoint+"/metrics", nil)
		resp, body := srv.do(t, req)
		want := `switchboard_api_requests_total{error="UnknownOperationException",operation="Unknown"}`
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(want)) {
			t.Fatalf("metrics (%d) lack %s", resp.StatusCode, want)
		}
	})
}
