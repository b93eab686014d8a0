package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/kvsapi"
	"github.com/switchboard-rtc/switchboard/sigv4"
)

// presign builds the presigned WebSocket URL a KVS SDK would: the channel
// ARN (and for viewers the client id) inside the signed query.
func (s *server) presign(t *testing.T, arn, clientID string, keys sigv4.Credentials, at time.Time, expires time.Duration) string {
	t.Helper()
	q := url.Values{kvsapi.QueryChannelARN: {arn}}
	if clientID != "" {
		q.Set(kvsapi.QueryClientID, clientID)
	}
	u := &url.URL{Scheme: "wss", Host: s.Addr, Path: "/", RawQuery: q.Encode()}
	signed, err := sigv4.PresignURL(u, keys, testRegion, "kinesisvideo", at, expires)
	if err != nil {
		t.Fatal(err)
	}
	return signed.String()
}

var rootKeys = sigv4.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}

// dialWS opens a WebSocket to url, trusting the server's CA. On a refused
// handshake it returns the HTTP reply.
func (s *server) dialWS(ctx context.Context, rawURL string) (*websocket.Conn, *http.Response, error) {
	return websocket.Dial(ctx, rawURL, &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: s.TLSConfig()}}})
}

// readEvent reads one server frame.
func readEvent(ctx context.Context, t *testing.T, c *websocket.Conn) kvsapi.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	typ, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("server sent a %v frame", typ)
	}
	var ev kvsapi.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatalf("frame %q: %v", data, err)
	}
	return ev
}

// TestWebSocketHandshakeRefusals checks that bad presigned URLs are refused
// before the upgrade, with the AWS error shape and status.
func TestWebSocketHandshakeRefusals(t *testing.T) {
	srv := startServer(t, serverOptions{args: []string{"--config", writeAccountsConfig(t)}})
	kvs := srv.kvs()
	arn := createChannel(t, kvs, "gate")
	deletedARN := createChannel(t, kvs, "gone")
	if _, err := kvs.DeleteSignalingChannel(testContext(t), deleteInput(deletedARN)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	otherKeys := sigv4.Credentials{AccessKeyID: otherAccessKey, SecretAccessKey: otherSecret}
	cases := []struct {
		name   string
		url    string
		status int
		code   string
	}{
		{"expired URL", srv.presign(t, arn, "", rootKeys, now.Add(-10*time.Minute), 299*time.Second), 403, "InvalidSignatureException"},
		{"URL signed an hour ahead", srv.presign(t, arn, "", rootKeys, now.Add(time.Hour), 299*time.Second), 403, "InvalidSignatureException"},
		{"deleted channel", srv.presign(t, deletedARN, "", rootKeys, now, 299*time.Second), 404, "ResourceNotFoundException"},
		{"signed for another account", srv.presign(t, arn, "", otherKeys, now, 299*time.Second), 404, "ResourceNotFoundException"},
		{"wrong secret", srv.presign(t, arn, "", sigv4.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: "wrong-secret-0000000000000"}, now, 299*time.Second), 403, "InvalidSignatureException"},
		{"reserved client id", srv.presign(t, arn, "AWS_DEFAULT_SINGLE_MASTER", rootKeys, now, 299*time.Second), 400, "InvalidArgumentException"},
		{"client id with bad characters", srv.presign(t, arn, "viewer one", rootKeys, now, 299*time.Second), 400, "InvalidArgumentException"},
		{"no signature", "wss://" + srv.Addr + "/?X-Amz-ChannelARN=" + url.QueryEscape(arn), 403, "MissingAuthenticationTokenException"},
	}
	// A client with a wrong clock recognises a refusal of the signing
	// time by these phrases and corrects its clock from the Date header
	// (spec 1.2 and 7.6), as the KVS C SDK and our Go client do.
	timePhrases := map[string]string{"expired URL": "Signature expired", "URL signed an hour ahead": "Signature not yet current"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, resp, err := srv.dialWS(testContext(t), tc.url)
			if err == nil {
				conn.CloseNow()
				t.Fatal("handshake accepted")
			}
			if resp == nil {
				t.Fatalf("no HTTP reply: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || resp.Header.Get("x-amzn-ErrorType") != tc.code || !strings.Contains(string(body), tc.code) {
				t.Fatalf("got %d %q %s, want %d %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body, tc.status, tc.code)
			}
			if date, err := http.ParseTime(resp.Header.Get("Date")); err != nil || time.Since(date).Abs() > 5*time.Second {
				t.Fatalf("Date header %q of the refusal: %v", resp.Header.Get("Date"), err)
			}
			if phrase := timePhrases[tc.name]; !strings.Contains(string(body), phrase) {
				t.Fatalf("refusal %s lacks %q", body, phrase)
			}
		})
	}
}

// TestWebSocketGoAwayOnDeleteAndShutdown connects a master and viewers with
// real presigned URLs, deletes the channel, and expects GO_AWAY then a close
// on every connection; then the same for a server shutdown.
func TestWebSocketGoAwayOnDeleteAndShutdown(t *testing.T) {
	srv := startServer(t, serverOptions{})
	kvs := srv.kvs()
	ctx := testContext(t)
	connectAll := func(arn string) []*websocket.Conn {
		var conns []*websocket.Conn
		for _, id := range []string{"", "viewer-1", "viewer-2"} {
			c, _, err := srv.dialWS(ctx, srv.presign(t, arn, id, rootKeys, time.Now(), 299*time.Second))
			if err != nil {
				t.Fatalf("connect %q: %v", id, err)
			}
			conns = append(conns, c)
		}
		return conns
	}
	expectGoAwayAndClose := func(conns []*websocket.Conn) {
		for i, c := range conns {
			if ev := readEvent(ctx, t, c); ev.MessageType != kvsapi.MessageGoAway {
				t.Fatalf("connection %d got %+v, want GO_AWAY", i, ev)
			}
			readCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
			_, _, err := c.Read(readCtx)
			cancel()
			if websocket.CloseStatus(err) == -1 {
				t.Fatalf("connection %d: want a close frame after GO_AWAY, got %v", i, err)
			}
		}
	}

	arn := createChannel(t, kvs, "doomed")
	conns := connectAll(arn)
	// A viewer's message reaches the master, so the connections are live.
	if err := conns[1].Write(ctx, websocket.MessageText, []byte(`{"action":"SDP_OFFER","messagePayload":"eyJ0eXBlIjoib2ZmZXIifQ=="}`)); err != nil {
		t.Fatal(err)
	}
	if ev := readEvent(ctx, t, conns[0]); ev.SenderClientID != "viewer-1" || ev.MessageType != kvsapi.ActionSDPOffer {
		t.Fatalf("master got %+v", ev)
	}
	resp, body := srv.raw(t, rawCall{path: "/switchboard/describeSignalingChannelConnections", body: `{"ChannelARN":"` + arn + `"}`})
	if checkAWSReply(t, resp, body) != "" || string(body) != `{"MasterConnected":true,"ViewerCount":2}` {
		t.Fatalf("connections of the channel: %d %s", resp.StatusCode, body)
	}
	if _, err := kvs.DeleteSignalingChannel(ctx, deleteInput(arn)); err != nil {
		t.Fatal(err)
	}
	expectGoAwayAndClose(conns)

	conns = connectAll(createChannel(t, kvs, "survivor"))
	stopped := make(chan struct{})
	go func() { srv.stop(); close(stopped) }()
	expectGoAwayAndClose(conns)
	<-stopped
	if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM", code)
	}
}

// TestPlainGetOfAConnectURL fetches a presigned connect URL without the
// upgrade headers, as curl or a proxy that strips them would: the hub
// answers in the AWS error shape and says what is missing, rather than
// the console's page or an unknown-operation error.
func TestPlainGetOfAConnectURL(t *testing.T) {
	srv := startServer(t, serverOptions{})
	arn := createChannel(t, srv.kvs(), "plain-get")
	target := strings.Replace(srv.presign(t, arn, "viewer-1", rootKeys, time.Now(), 299*time.Second), "wss://", "https://", 1)
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := srv.do(t, req)
	if name := checkAWSReply(t, resp, body); resp.StatusCode != http.StatusBadRequest || name != "InvalidArgumentException" ||
		!strings.Contains(string(body), "upgrade") {
		t.Fatalf("got %d %s, want 400 InvalidArgumentException saying the upgrade is missing", resp.StatusCode, body)
	}
}

// TestSecondSignalEndsTheShutdown: during a graceful shutdown that waits
// for a client ignoring GO_AWAY and the close frame (a two-minute drain
// and write timeout here), a second SIGTERM ends the process at once, as
// operators expect of a second Ctrl-C.
func TestSecondSignalEndsTheShutdown(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "slow-drain.yaml")
	if err := os.WriteFile(conf, []byte("server:\n  shutdown_timeout: 180s\nsignaling:\n  shutdown_drain: 120s\n  write_timeout: 120s\n  ping_interval: 0s\n  idle_timeout: 600s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, serverOptions{args: []string{"--config", conf}})
	ctx := testContext(t)
	arn := createChannel(t, srv.kvs(), "stubborn")
	c, _, err := srv.dialWS(ctx, srv.presign(t, arn, "", rootKeys, time.Now(), 299*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow() // never read: GO_AWAY and the close frame go unanswered

	_ = srv.cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, 10*time.Second, "the shutdown to begin", func() bool {
		return strings.Contains(srv.output.String(), "shutting down")
	})
	select {
	case <-srv.exited:
		t.Fatal("the server ended before the drain it was configured to wait for")
	case <-time.After(time.Second):
	}
	_ = srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the server still runs 30 s after a second SIGTERM, within a 120 s drain:\n%s", srv.output.String())
	}
}
