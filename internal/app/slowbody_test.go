package app

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/config"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// startApp runs a whole server on a loopback port with the given body read
// timeout and returns its address. It stops when the test ends.
func startApp(t *testing.T, bodyTimeout time.Duration) string {
	t.Helper()
	return runApp(t, testConfig(t), func(a *App) { a.bodyReadTimeout = bodyTimeout })
}

// testConfig is the configuration of a test server: loopback, a data
// directory of the test's own, no TURN and no console.
func testConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.Server.Addr = "127.0.0.1:0"
	cfg.Server.DataDir = t.TempDir()
	cfg.Server.Region = "us-west-2"
	cfg.Server.AccountID = "111122223333"
	cfg.Server.ShutdownTimeout = config.Duration(5 * time.Second)
	cfg.Turn.Enabled = false
	cfg.Console.Enabled = false
	return cfg
}

// runApp runs a whole server with cfg, after configure has set what the
// configuration cannot, and returns its address once it serves. It stops
// when the test ends.
func runApp(t *testing.T, cfg config.Config, configure func(*App)) string {
	t.Helper()
	a := New(cfg, Options{})
	if configure != nil {
		configure(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-a.Ready():
		return a.Addr().String()
	case err := <-done:
		t.Fatalf("server stopped before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server not ready after 30s")
	}
	return ""
}

// wantSlowBodyError checks a reply to a body that missed its deadline and
// returns its message.
func wantSlowBodyError(t *testing.T, resp *http.Response, want string) string {
	t.Helper()
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body kvsapi.ErrorBody
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("reply %d %q is not in the AWS error shape: %v", resp.StatusCode, raw, err)
	}
	if resp.StatusCode != http.StatusBadRequest || body.Type != "SerializationException" ||
		resp.Header.Get("x-amzn-ErrorType") != "SerializationException" || resp.Header.Get("x-amzn-RequestId") == "" {
		t.Errorf("reply %d %v %s, want 400 SerializationException", resp.StatusCode, resp.Header, raw)
	}
	if !strings.Contains(body.Message, want) {
		t.Errorf("message %q does not say %q", body.Message, want)
	}
	return body.Message
}

// TestSlowRequestBodyIsCutOff: a client that declares a Content-Length and
// then sends its body too slowly gets an error within the body timeout and
// loses the connection, instead of holding it open for ever before its
// signature is even checked. That the deadline ends with the body, so a
// long request is not cut off after it, is tested where the deadline is
// lifted: internal/controlplane, TestBodyDeadlineEndsWithTheBody.
func TestSlowRequestBodyIsCutOff(t *testing.T) {
	const timeout = 300 * time.Millisecond
	addr := startApp(t, timeout)
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_, err = io.WriteString(conn, "POST /describeSignalingChannel HTTP/1.1\r\nHost: "+addr+
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no reply to a stalled body after %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	if took := time.Since(start); took < timeout || took > 5*time.Second {
		t.Errorf("reply after %s, want soon after %s", took, timeout)
	}
	if !resp.Close {
		t.Error("reply does not say the connection will be closed")
	}
	wantSlowBodyError(t, resp, "did not arrive within 300ms (1 of 100 bytes received)")
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("connection still open after the reply: %v", err)
	}
}

// TestSlowRequestBodyIsCutOffHTTP2: the same over HTTP/2, where only the
// stream is refused.
func TestSlowRequestBodyIsCutOffHTTP2(t *testing.T) {
	const timeout = 300 * time.Millisecond
	addr := startApp(t, timeout)
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
			ForceAttemptHTTP2: true,
		},
	}
	defer client.CloseIdleConnections()
	body, stall := io.Pipe()
	defer stall.Close()
	go func() { _, _ = io.WriteString(stall, "{") }()
	req, err := http.NewRequest(http.MethodPost, "https://"+addr+"/describeSignalingChannel", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 100
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("no reply to a stalled body: %v", err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("spoke %s, want HTTP/2", resp.Proto)
	}
	msg := wantSlowBodyError(t, resp, "did not arrive within 300ms (")
	// The "{" crosses an io.Pipe and goes out in a DATA frame that the
	// transport sends on its own schedule, so the server may have it or
	// not when the deadline fires. Either count is right; the refusal is
	// what matters.
	if !strings.Contains(msg, "(0 of 100 bytes received)") && !strings.Contains(msg, "(1 of 100 bytes received)") {
		t.Errorf("message %q does not say 0 or 1 of 100 bytes received", msg)
	}
}

// TestUnreadBodyIsBounded: a handler that answers without reading the
// body (here an unknown operation, and a body declared over the limit)
// leaves net/http to discard it; a client trickling that body loses the
// connection within the body timeout instead of holding it for ever.
func TestUnreadBodyIsBounded(t *testing.T) {
	const timeout = 300 * time.Millisecond
	addr := startApp(t, timeout)
	for _, tc := range []struct{ name, request string }{
		{"unknown operation", "POST /no-such-operation HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: 200000\r\n\r\n{"},
		{"GET with a body", "GET /healthz HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: 200000\r\n\r\n{"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			if _, err := io.WriteString(conn, tc.request); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no reply: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Fatalf("connection still open %s after the request (%v); want it closed soon after %s",
					time.Since(start).Round(time.Millisecond), err, timeout)
			}
		})
	}
}
