package signaling

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/internal/bus/memory"
	"github.com/switchboard-rtc/switchboard/internal/netpark"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// badHandshakes are upgrade requests with a valid presigned URL that are
// not valid WebSocket handshakes, and the status each is refused with.
var badHandshakes = []struct {
	name   string
	status int
	spoil  func(*http.Request)
}{
	{"version 8", http.StatusUpgradeRequired, func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8") }},
	{"no Connection upgrade", http.StatusBadRequest, func(r *http.Request) { r.Header.Del("Connection") }},
	{"short key", http.StatusBadRequest, func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "c2hvcnQ=") }},
	{"POST", http.StatusBadRequest, func(r *http.Request) { r.Method = http.MethodPost }},
}

// TestInvalidHandshakeRefusedBeforeSubscribing: a request that is not a
// valid WebSocket handshake is refused in the AWS error shape before it
// subscribes, so it neither displaces the live holder of its identity nor
// takes that identity's mailbox.
func TestInvalidHandshakeRefusedBeforeSubscribing(t *testing.T) {
	e := newEnv(t, nil)
	master := e.dial("")
	master.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "v1", ""))
	waitFor(t, "offer queued for v1", func() bool { return e.metric("mailbox_messages") == 1 })

	for _, tc := range badHandshakes {
		for _, id := range []string{"", "v1"} { // the live master's identity, the absent viewer's
			t.Run(tc.name+" as "+id, func(t *testing.T) {
				req := upgradeRequest(t, e.url(testARN, id))
				tc.spoil(req)
				resp, body := doRefusal(t, req)
				if resp.StatusCode != tc.status || body.Type != kvsapi.CodeInvalidArgument.Name ||
					resp.Header.Get("x-amzn-ErrorType") != kvsapi.CodeInvalidArgument.Name || body.Message == "" {
					t.Fatalf("refusal = %d %+v, want %d %s", resp.StatusCode, body, tc.status, kvsapi.CodeInvalidArgument.Name)
				}
				if tc.status == http.StatusUpgradeRequired && resp.Header.Get("Sec-WebSocket-Version") != "13" {
					t.Fatalf("426 without Sec-WebSocket-Version: 13: %v", resp.Header)
				}
			})
		}
	}
	// The offer waited for v1; had a refusal displaced the master, its
	// first frame would be GO_AWAY.
	viewer := e.dial("v1")
	viewer.expect(toViewer(kvsapi.ActionSDPOffer, offerPayload))
	viewer.send(jsMsg(kvsapi.ActionSDPAnswer, answerPayload, "", ""))
	master.expect(toMaster("v1", kvsapi.ActionSDPAnswer, answerPayload))
	if got := e.metric("refusals_total", "reason", "not_websocket"); got != float64(2*len(badHandshakes)) {
		t.Fatalf("not_websocket refusals = %v, want %d", got, 2*len(badHandshakes))
	}
}

// doRefusal sends req, which must be refused, and returns the reply with
// its AWS error body.
func doRefusal(t *testing.T, req *http.Request) (*http.Response, kvsapi.ErrorBody) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upgrade request: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body kvsapi.ErrorBody
	if err := json.Unmarshal(raw, &body); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("refusal %d is not in the AWS error shape: %q", resp.StatusCode, raw)
	}
	return resp, body
}

// noHijack is a ResponseWriter that cannot be hijacked, as on HTTP/2.
type noHijack struct{ *httptest.ResponseRecorder }

// deadHijack hijacks into a connection that is already closed, so that
// writing the 101 reply fails.
type deadHijack struct{ *httptest.ResponseRecorder }

func (deadHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	server, client := net.Pipe()
	_ = client.Close()
	_ = server.Close()
	return server, bufio.NewReadWriter(bufio.NewReader(server), bufio.NewWriter(server)), nil
}

// TestFailedUpgradeKeepsMailbox: when the upgrade fails after the
// identity was taken (no hijack possible, the 101 reply not written), the
// messages waiting for it stay in the bus and reach the next connection.
func TestFailedUpgradeKeepsMailbox(t *testing.T) {
	e := newEnv(t, nil)
	master := e.dial("")
	master.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "v1", ""))
	master.send(jsMsg(kvsapi.ActionICECandidate, candPayload, "v1", ""))
	waitFor(t, "mail queued for v1", func() bool { return e.metric("mailbox_messages") == 2 })
	for name, w := range map[string]http.ResponseWriter{
		"no hijack":       noHijack{httptest.NewRecorder()},
		"101 not written": deadHijack{httptest.NewRecorder()},
	} {
		req := upgradeRequest(t, e.url(testARN, "v1"))
		e.hub.ServeHTTP(w, req)
		if got := e.metric("mailbox_messages"); got != 2 {
			t.Fatalf("%s: mailbox holds %v messages after the failed upgrade, want 2", name, got)
		}
	}
	if got := e.metric("refusals_total", "reason", "upgrade_failed"); got != 2 {
		t.Fatalf("upgrade_failed refusals = %v, want 2", got)
	}
	viewer := e.dial("v1")
	viewer.expect(toViewer(kvsapi.ActionSDPOffer, offerPayload))
	viewer.expect(toViewer(kvsapi.ActionICECandidate, candPayload))
}

// TestConnectRatePerRole: masters and viewers have separate connect
// quotas per channel (ConnectAsMaster, ConnectAsViewer), so connecting
// viewers cannot lock the master out, nor the other way round.
func TestConnectRatePerRole(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.ConnectsPerSecondPerChannel = 0.001 // no refill during the test
		c.ConnectBurstPerChannel = 3
		c.TakeoverHoldDown = 0
	})
	for _, id := range []string{"v1", "v2", "v3"} {
		e.dial(id)
	}
	resp, body := refusalResponse(t, e.url(testARN, "v4"), nil)
	if resp.StatusCode != http.StatusBadRequest || body.Type != kvsapi.CodeClientLimitExceeded.Name {
		t.Fatalf("4th viewer connect in a burst of 3: %d %+v", resp.StatusCode, body)
	}
	for range 3 {
		if _, err := e.tryDial(e.url(testARN, ""), nil, true); err != nil {
			t.Fatalf("master refused after the viewers used up their connects: %v", err)
		}
	}
	resp, body = refusalResponse(t, e.url(testARN, ""), nil)
	if resp.StatusCode != http.StatusBadRequest || body.Type != kvsapi.CodeClientLimitExceeded.Name ||
		!strings.Contains(body.Message, "MASTER") {
		t.Fatalf("4th master connect in a burst of 3: %d %+v", resp.StatusCode, body)
	}
	if got := e.metric("refusals_total", "reason", "connect_rate"); got != 2 {
		t.Fatalf("connect_rate refusals = %v, want 2", got)
	}
}

// racyDirectory looks a channel up, then lets UpdateSignalingChannel
// change its TTL (the store first, then Hub.UpdateChannelTTL, as
// internal/app does) before it answers: a connect racing an update.
type racyDirectory struct {
	*testDirectory
	once sync.Once
	hub  *Hub
	ttl  time.Duration
}

func (d *racyDirectory) LookupChannel(ctx context.Context, account, arn string) (ChannelInfo, error) {
	info, err := d.testDirectory.LookupChannel(ctx, account, arn)
	d.once.Do(func() {
		d.put(account, arn, d.ttl)
		d.hub.UpdateChannelTTL(account, arn, d.ttl)
	})
	return info, err
}

// TestTTLUpdateDuringConnect: a TTL update that lands while a connect
// looks its channel up (after the connection is registered, before the
// looked-up TTL is set on it) applies to the new connection.
func TestTTLUpdateDuringConnect(t *testing.T) {
	base := &testDirectory{channels: map[string]ChannelInfo{}}
	base.put(testAccount, testARN, time.Hour)
	dir := &racyDirectory{testDirectory: base, ttl: 300 * time.Millisecond}
	reg := prometheus.NewRegistry()
	mb := memory.New(memory.Options{})
	hub, err := NewHub(testConfig(), Deps{Authenticator: testAuth{}, Channels: dir, Bus: mb,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	dir.hub = hub
	hub.parkAfter = 0
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = hub.Run(ctx) }()
	srv := httptest.NewUnstartedServer(hub)
	srv.Listener = netpark.NewListener(srv.Listener)
	srv.Start()
	t.Cleanup(func() { _ = hub.Shutdown(context.Background()); srv.Close(); cancel(); _ = mb.Close() })
	e := &testEnv{t: t, hub: hub, srv: srv, dir: base, reg: reg, bus: mb}

	viewer := e.dial("v1") // its lookup still sees the hour-long TTL
	if got := e.connTTL("v1"); got != dir.ttl {
		t.Fatalf("connection's TTL = %v, want the updated %v", got, dir.ttl)
	}
	viewer.send(jsMsg(kvsapi.ActionSDPOffer, offerPayload, "", ""))
	// Under the hour the offer would outlast waitFor's deadline.
	waitFor(t, "the offer to expire under the updated TTL", func() bool { return e.metric("mailbox_expired_total") == 1 })
}
