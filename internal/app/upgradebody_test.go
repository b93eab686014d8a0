package app

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/config"
	"github.com/switchboard-rtc/switchboard/kvsapi"
	"github.com/switchboard-rtc/switchboard/sigv4"
)

// maskedPing is a client ping frame with an empty payload (RFC 6455: FIN,
// opcode 9, masked, length 0, then the 4-byte mask).
var maskedPing = []byte{0x89, 0x80, 1, 2, 3, 4}

// TestUpgradeWithBodyIsRefused: a WebSocket upgrade request that carries
// a body is refused with a 400 that says why. Taking it would hand the
// body to the WebSocket reader as if the client had sent it as frames,
// and leave the body's read deadline on the hijacked connection, which
// would then be cut once the body timeout passed.
func TestUpgradeWithBodyIsRefused(t *testing.T) {
	const bodyTimeout = 300 * time.Millisecond
	cfg := testConfig(t)
	creds := sigv4.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	cfg.Credentials = config.Keys{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey}
	addr := runApp(t, cfg, func(a *App) { a.bodyReadTimeout = bodyTimeout })
	arn := createChannel(t, addr, creds, "upgrade-with-body")

	u := &url.URL{Scheme: "wss", Host: addr, Path: "/", RawQuery: url.Values{"X-Amz-ChannelARN": {arn}}.Encode()}
	signed, err := sigv4.PresignURL(u, creds, "us-west-2", "kinesisvideo", time.Now(), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	conn, br := dialALPN(t, addr, "http/1.1")
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	// The body is a valid frame, so that only the deadline could end an
	// upgraded connection.
	_, err = io.WriteString(conn, "GET "+signed.RequestURI()+" HTTP/1.1\r\nHost: "+addr+
		"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+
		base64.StdEncoding.EncodeToString(key)+"\r\nContent-Length: "+strconv.Itoa(len(maskedPing))+"\r\n\r\n"+string(maskedPing))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		t.Fatalf("an upgrade with a body was taken; %s", afterUpgrade(t, conn, br, bodyTimeout))
	}
	var body kvsapi.ErrorBody
	if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body.Message, "body") {
		t.Fatalf("reply %d %s; want 400 in the AWS shape saying the upgrade must not carry a body", resp.StatusCode, raw)
	}
}

// afterUpgrade says what became of an upgraded connection once the body
// timeout had passed: whether it still answered a ping.
func afterUpgrade(t *testing.T, conn *tls.Conn, br *bufio.Reader, bodyTimeout time.Duration) string {
	t.Helper()
	time.Sleep(3 * bodyTimeout)
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write(maskedPing); err != nil {
		return "after the body timeout the connection was gone: " + err.Error()
	}
	var got []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			return "after the body timeout, reading frames ended with " + err.Error() +
				" having read " + strconv.Quote(string(got))
		}
		got = append(got, b)
		if strings.Count(string(got), "\x8a\x00") == 2 {
			return "the connection still answered pings after the body timeout"
		}
	}
}
