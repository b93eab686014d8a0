package app

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/sigv4"
)

// startTURNOnHTTPSApp runs a server whose HTTPS port also serves TURN (and
// nothing else does), with the console and its one-click sign-in on.
func startTURNOnHTTPSApp(t *testing.T) string {
	t.Helper()
	cfg := testConfig(t)
	cfg.Turn.Enabled = true
	cfg.Turn.UDPAddr, cfg.Turn.TCPAddr, cfg.Turn.TLSAddr = "", "", ""
	cfg.Turn.RelayIP = "127.0.0.1"
	cfg.Turn.OnHTTPSPort = true
	cfg.Console.Enabled = true
	return runApp(t, cfg, nil)
}

// dialNoALPN opens a TLS connection that offers no ALPN protocol, as some
// HTTP/1.1 clients (and the KVS C SDK's WebSocket library) do. Such a
// connection is classified by its first bytes on a shared HTTPS port.
func dialNoALPN(t *testing.T, addr string) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	return dialALPN(t, addr)
}

// dialALPN opens a TLS connection that offers the given ALPN protocols.
func dialALPN(t *testing.T, addr string, protos ...string) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: protos})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	return conn, bufio.NewReader(conn)
}

// roundTrip writes raw request text and reads the reply with its body.
func roundTrip(t *testing.T, conn *tls.Conn, br *bufio.Reader, req string) (*http.Response, []byte) {
	t.Helper()
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// devKeys asks the console for the development keys, from a page of the
// server's own https origin, over a connection offering protos by ALPN.
func devKeys(t *testing.T, addr string, protos ...string) (sigv4.Credentials, int, string) {
	t.Helper()
	conn, br := dialALPN(t, addr, protos...)
	resp, body := roundTrip(t, conn, br, "GET /console/dev-credentials HTTP/1.1\r\nHost: "+addr+
		"\r\nOrigin: https://"+addr+"\r\nSec-Fetch-Site: same-origin\r\n\r\n")
	var keys struct{ AccessKeyID, SecretAccessKey string }
	_ = json.Unmarshal(body, &keys)
	return sigv4.Credentials{AccessKeyID: keys.AccessKeyID, SecretAccessKey: keys.SecretAccessKey}, resp.StatusCode, string(body)
}

// TestNoALPNRequestsSeeTLSOnSharedPort: with TURN on the HTTPS port, a
// TLS client that negotiates no ALPN reaches net/http through the TURN
// classifier, which has read its first bytes. Such a request must still
// be known to have come over TLS: the console's cross-origin check builds
// the page's origin from it.
func TestNoALPNRequestsSeeTLSOnSharedPort(t *testing.T) {
	addr := startTURNOnHTTPSApp(t)
	_, status, body := devKeys(t, addr)
	if status != http.StatusOK {
		t.Fatalf("dev keys for the console's own https page over a connection without ALPN: %d %s; want 200", status, body)
	}
}

// TestNoALPNSignalingConnectionIsParked: a WebSocket client without ALPN
// on the shared port is parked between its messages like any other (no
// goroutine, no TLS read buffers), which needs the hub to find the
// *tls.Conn and the socket under the hijacked connection.
func TestNoALPNSignalingConnectionIsParked(t *testing.T) {
	addr := startTURNOnHTTPSApp(t)
	creds, status, body := devKeys(t, addr, "http/1.1")
	if status != http.StatusOK {
		t.Fatalf("dev keys over http/1.1: %d %s", status, body)
	}
	arn := createChannel(t, addr, creds, "parked-no-alpn")

	u := &url.URL{Scheme: "wss", Host: addr, Path: "/", RawQuery: url.Values{"X-Amz-ChannelARN": {arn}}.Encode()}
	signed, err := sigv4.PresignURL(u, creds, "us-west-2", "kinesisvideo", time.Now(), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	conn, br := dialNoALPN(t, addr)
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	resp, _ := roundTrip(t, conn, br, "GET "+signed.RequestURI()+" HTTP/1.1\r\nHost: "+addr+
		"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+
		base64.StdEncoding.EncodeToString(key)+"\r\n\r\n")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	deadline := time.Now().Add(10 * time.Second)
	for parkedConnections(t, addr) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("an idle WebSocket connection without ALPN was not parked within 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// createChannel creates a signaling channel with a signed request and
// returns its ARN.
func createChannel(t *testing.T, addr string, creds sigv4.Credentials, name string) string {
	t.Helper()
	payload := []byte(`{"ChannelName":"` + name + `"}`)
	req, err := http.NewRequest(http.MethodPost, "https://"+addr+"/createSignalingChannel", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := sigv4.SignRequest(req, payload, creds, "us-west-2", "kinesisvideo", time.Now()); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ ChannelARN string }
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("create channel: %d %s", resp.StatusCode, raw)
	}
	return out.ChannelARN
}

// parkedConnections reads the hub's parked-connections gauge from /metrics.
func parkedConnections(t *testing.T, addr string) int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(raw), "\n") {
		var n float64
		if _, err := fmt.Sscanf(line, "switchboard_signaling_parked_connections %g", &n); err == nil {
			return int(n)
		}
	}
	t.Fatalf("no parked_connections gauge in /metrics:\n%s", raw)
	return 0
}
