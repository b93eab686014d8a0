package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/internal/bus"
	"github.com/switchboard-rtc/switchboard/internal/bus/memory"
	"github.com/switchboard-rtc/switchboard/internal/netpark"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

const (
	testAccount = "111122223333"
	testARN     = "arn:aws:kinesisvideo:us-west-2:111122223333:channel/demo-channel/1700000000000"
	otherARN    = "arn:aws:kinesisvideo:us-west-2:111122223333:channel/other/1700000000001"
	// Payloads from the JS capture (spec captures/WebSocket-JS-SDK.txt).
	offerPayload  = "eyJ0eXBlIjoib2ZmZXIiLCJzZHAiOiJ2PTBcclxubz0tIDEgMiBJTiBJUDQgMTI3LjAuMC4xXHJcbnM9LVxyXG4ifQ=="
	answerPayload = "eyJ0eXBlIjoiYW5zd2VyIiwic2RwIjoidj0wXHJcbm89LSAzIDQgSU4gSVA0IDEyNy4wLjAuMVxyXG5zPS1cclxuIn0="
	candPayload   = "eyJjYW5kaWRhdGUiOiJjYW5kaWRhdGU6MSAxIHVkcCAyMTIyMjYwMjIzIDE5Mi4wLjIuMTAgNTAwMDAgdHlwIGhvc3QiLCJzZHBNaWQiOiIwIiwic2RwTUxpbmVJbmRleCI6MCwidXNlcm5hbWVGcmFnbWVudCI6ImFiY2QifQ=="
)

// testAuth accepts every request; the account comes from the X-Test-Account
// query parameter (default testAccount), and X-Test-Deny makes it fail like
// a bad signature.
type testAuth struct{}

func (testAuth) AuthenticatePresigned(r *http.Request) (string, error) {
	q := r.URL.Query()
	if q.Has("X-Test-Deny") {
		return "", kvsapi.Errorf(kvsapi.CodeInvalidSignature,
			"The request signature we calculated does not match the signature you provided.")
	}
	if a := q.Get("X-Test-Account"); a != "" {
		return a, nil
	}
	return testAccount, nil
}

// testDirectory is a map of channels.
type testDirectory struct {
	mu       sync.Mutex
	channels map[string]ChannelInfo
}

func (d *testDirectory) LookupChannel(_ context.Context, account, arn string) (ChannelInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	info, ok := d.channels[account+" "+arn]
	if !ok {
		return ChannelInfo{}, kvsapi.Errorf(kvsapi.CodeResourceNotFound, kvsapi.ChannelNotFoundMessage)
	}
	return info, nil
}

func (d *testDirectory) put(account, arn string, ttl time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.channels[account+" "+arn] = ChannelInfo{ARN: arn, Name: "demo-channel", MessageTTL: ttl}
}

func (d *testDirectory) remove(account, arn string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.channels, account+" "+arn)
}

// testEnv is a hub served by a plain httptest server whose sockets can be
// parked (unless the env was made with newBlockingEnv).
type testEnv struct {
	t   testing.TB
	hub *Hub
	srv *httptest.Server
	dir *testDirectory
	reg *prometheus.Registry
	bus *memory.Bus
}

// testConfig is DefaultConfig with limits that would slow tests down
// relaxed; each test tightens what it checks.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.ConnectsPerSecondPerChannel = 10000
	cfg.ConnectBurstPerChannel = 10000
	cfg.HousekeepingInterval = Duration(50 * time.Millisecond)
	cfg.ShutdownDrain = Duration(200 * time.Millisecond)
	return cfg
}

func newEnv(t testing.TB, mutate func(*Config)) *testEnv {
	t.Helper()
	return startEnv(t, mutate, envOptions{parkable: true})
}

// newLingeringEnv parks connections only after parkAfter of silence.
func newLingeringEnv(t testing.TB, mutate func(*Config), parkAfter time.Duration) *testEnv {
	t.Helper()
	return startEnv(t, mutate, envOptions{parkable: true, parkAfter: parkAfter})
}

// newBlockingEnv serves the hub on an ordinary listener: every connection
// keeps a reading goroutine, as on systems without a poller.
func newBlockingEnv(t testing.TB, mutate func(*Config)) *testEnv {
	t.Helper()
	return startEnv(t, mutate, envOptions{})
}

// newTLSEnv serves the hub over TLS, as the server does, on sockets that
// are parked at every moment of silence.
func newTLSEnv(t testing.TB, mutate func(*Config)) *testEnv {
	t.Helper()
	return startEnv(t, mutate, envOptions{parkable: true, tls: true})
}

// envOptions shape how startEnv serves the hub.
type envOptions struct {
	parkable  bool          // sockets can be parked
	parkAfter time.Duration // silence before parking
	tls       bool          // serve HTTPS (over the parkable sockets)
	paceLimit time.Duration // how long senders wait for a congested recipient (0: the default)
	// wrapBus, when set, wraps the memory bus the hub is given, so that a
	// test can make one of its calls slow, as a networked bus may be.
	wrapBus func(bus.Bus) bus.Bus
}

// startEnv serves a new hub; parkable connections are parked after
// opts.parkAfter of silence (0 in most tests: at the first moment of
// silence, so that every test runs through parking and waking again).
func startEnv(t testing.TB, mutate func(*Config), opts envOptions) *testEnv {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	dir := &testDirectory{channels: map[string]ChannelInfo{}}
	dir.put(testAccount, testARN, time.Minute)
	dir.put(testAccount, otherARN, time.Minute)
	reg := prometheus.NewRegistry()
	b := memory.New(memory.Options{})
	var hubBus bus.Bus = b
	if opts.wrapBus != nil {
		hubBus = opts.wrapBus(b)
	}
	hub, err := NewHub(cfg, Deps{
		Authenticator: testAuth{},
		Channels:      dir,
		Bus:           hubBus,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer:    reg,
	})
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- hub.Run(ctx) }()
	hub.parkAfter = opts.parkAfter
	if opts.paceLimit > 0 {
		hub.paceLimit = opts.paceLimit
	}
	srv := httptest.NewUnstartedServer(hub)
	if opts.parkable {
		srv.Listener = netpark.NewListener(srv.Listener)
	}
	if opts.tls {
		srv.StartTLS() // TLS over the parkable listener, as in internal/app
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := hub.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
		_ = b.Close()
	})
	return &testEnv{t: t, hub: hub, srv: srv, dir: dir, reg: reg, bus: b}
}

// url returns the connect URL for a master (clientID "") or a viewer.
func (e *testEnv) url(arn, clientID string, extra ...string) string {
	q := url.Values{}
	q.Set(kvsapi.QueryChannelARN, arn)
	if clientID != "" {
		q.Set(kvsapi.QueryClientID, clientID)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/?" + q.Encode()
}

// client is a test WebSocket client whose frames are read by a background
// goroutine (unless started without it, to play a slow reader).
type client struct {
	t      testing.TB
	name   string
	ws     *websocket.Conn
	header http.Header // handshake response headers
	frames chan []byte
	done   chan struct{}
	err    error // why reading stopped; valid after done is closed
}

func (e *testEnv) dial(clientID string) *client {
	e.t.Helper()
	c, err := e.tryDial(e.url(testARN, clientID), nil, true)
	if err != nil {
		e.t.Fatalf("dial %q: %v", clientID, err)
	}
	return c
}

func (e *testEnv) tryDial(u string, opts *websocket.DialOptions, read bool) (*client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if e.srv.TLS != nil && (opts == nil || opts.HTTPClient == nil) {
		withClient := websocket.DialOptions{}
		if opts != nil {
			withClient = *opts
		}
		withClient.HTTPClient = e.srv.Client() // trusts the test server's certificate
		opts = &withClient
	}
	ws, resp, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(resp.Body)
			return nil, fmt.Errorf("%w (status %d, body %s)", err, resp.StatusCode, body)
		}
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	c := &client{t: e.t, name: u, ws: ws, header: resp.Header, frames: make(chan []byte, 4096), done: make(chan struct{})}
	if read {
		go c.readLoop()
	}
	e.t.Cleanup(func() { _ = ws.CloseNow() })
	return c, nil
}

func (c *client) readLoop() {
	defer close(c.done)
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		if typ != websocket.MessageText {
			c.err = errors.New("server sent a binary frame")
			return
		}
		c.frames <- data
	}
}

func (c *client) send(frame string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next returns the next frame, failing the test after a deadline.
func (c *client) next() string {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return string(f)
	case <-c.done:
		select {
		case f := <-c.frames:
			return string(f)
		default:
		}
		c.t.Fatalf("connection ended while waiting for a frame: %v", c.err)
	case <-time.After(10 * time.Second):
		c.t.Fatalf("timed out waiting for a frame")
	}
	return ""
}

// expect fails unless the next frame is exactly want.
func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.next(); got != want {
		c.t.Fatalf("frame:\n got %s\nwant %s", got, want)
	}
}

// expectClosed waits for the server's close and checks its status and
// reason, after all remaining frames were consumed by the caller.
func (c *client) expectClosed(code websocket.StatusCode, reason string) {
	c.t.Helper()
	select {
	case <-c.done:
	case f := <-c.frames:
		c.t.Fatalf("expected a close, got frame %s", f)
	case <-time.After(10 * time.Second):
		c.t.Fatalf("timed out waiting for the close")
	}
	var ce websocket.CloseError
	if !errors.As(c.err, &ce) {
		c.t.Fatalf("connection ended without a close frame: %v", c.err)
	}
	if ce.Code != code || ce.Reason != reason {
		c.t.Fatalf("close = %d %q, want %d %q", ce.Code, ce.Reason, code, reason)
	}
}

// statusResponse decodes a STATUS_RESPONSE frame and checks its members.
func expectStatus(t *testing.T, frame, corr string, code kvsapi.ErrorCode) {
	t.Helper()
	var ev struct {
		MessageType    string
		StatusResponse map[string]any
	}
	if err := json.Unmarshal([]byte(frame), &ev); err != nil || ev.MessageType != kvsapi.MessageStatusResponse {
		t.Fatalf("not a STATUS_RESPONSE: %s", frame)
	}
	sr := ev.StatusResponse
	if sr["correlationId"] != corr || sr["success"] != false || sr["errorType"] != code.Name ||
		sr["statusCode"] != fmt.Sprint(code.Status) || sr["description"] == "" {
		t.Fatalf("STATUS_RESPONSE = %s, want correlationId %q errorType %s statusCode \"%d\"", frame, corr, code.Name, code.Status)
	}
	if !strings.Contains(frame, `"statusCode":"`) || !strings.Contains(frame, `"messageType":"STATUS_RESPONSE"`) {
		t.Fatalf("member spelling or statusCode type wrong: %s", frame)
	}
}

// Event builders for expected frames.
func toMaster(sender, typ, payload string) string {
	return `{"senderClientId":"` + sender + `","messageType":"` + typ + `","messagePayload":"` + payload + `"}`
}

func toViewer(typ, payload string) string {
	return `{"messageType":"` + typ + `","messagePayload":"` + payload + `"}`
}

func jsMsg(action, payload, recipient, corr string) string {
	m := map[string]string{"action": action, "messagePayload": payload}
	if recipient != "" {
		m["recipientClientId"] = recipient
	}
	if corr != "" {
		m["correlationId"] = corr
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// metric returns the value of a counter or gauge with the given labels
// (all of them), or 0 when it does not exist yet.
func (e *testEnv) metric(name string, labels ...string) float64 {
	e.t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		e.t.Fatalf("Gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != metricPrefix+name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// hasConn reports whether clientID ("" for the master) has a local
// connection on testARN.
func (e *testEnv) hasConn(clientID string) bool { return e.connOf(clientID) != nil }

// connOf returns the hub's connection of clientID ("" for the master) on
// testARN, or nil.
func (e *testEnv) connOf(clientID string) *conn {
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	for c := range e.hub.conns {
		if c.addr.Channel == testARN && c.addr.ClientID == clientID {
			return c
		}
	}
	return nil
}

// connTTL returns the message TTL of the local connection of clientID
// ("" for the master) on testARN, failing the test when there is none.
func (e *testEnv) connTTL(clientID string) time.Duration {
	e.t.Helper()
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	for c := range e.hub.conns {
		if c.addr.Channel == testARN && c.addr.ClientID == clientID {
			return time.Duration(c.ttl.Load())
		}
	}
	e.t.Fatalf("no connection of %q", clientID)
	return 0
}

// waitFor polls cond until it holds or a deadline passes (convention 11).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// upgradeRequest is a WebSocket upgrade request for the ws:// URL u, for
// tests that write it by hand.
func upgradeRequest(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, strings.Replace(u, "ws://", "http://", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "E8Dxr/9eXfRvwYBFNyVz+Q==")
	return req
}

// refusal performs an upgrade request that must be refused and returns the
// response with its body read.
func refusalResponse(t *testing.T, u string, header http.Header) (*http.Response, kvsapi.ErrorBody) {
	t.Helper()
	req := upgradeRequest(t, u)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upgrade request: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		t.Fatalf("upgrade to %s was accepted, want a refusal", u)
	}
	raw, _ := io.ReadAll(resp.Body)
	var body kvsapi.ErrorBody
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("refusal body is not the AWS error shape: %q", raw)
	}
	return resp, body
}
