package controlplane

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/channel"
	"github.com/switchboard-rtc/switchboard/internal/store/bolt"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// stoppedClock is a clock that moves only when told to.
type stoppedClock struct {
	mu  sync.Mutex
	now time.Time
}

func newStoppedClock() *stoppedClock { return &stoppedClock{now: time.Unix(1_700_000_000, 0)} }

func (c *stoppedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stoppedClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// headerCaller authenticates a request as the account in its X-Account
// header (111122223333 without one).
type headerCaller struct{}

func (headerCaller) Authenticate(r *http.Request, _ []byte) (auth.Principal, error) {
	account := r.Header.Get("X-Account")
	if account == "" {
		account = "111122223333"
	}
	return auth.Principal{Account: account, AccessKeyID: "AKIA" + account}, nil
}

// nobodyConnected answers presence for any channel.
type nobodyConnected struct{}

func (nobodyConnected) Presence(string, string) (bool, int) { return false, 0 }

type quotaFixture struct {
	api   *API
	clock *stoppedClock
	reg   *prometheus.Registry
	arn   string // of the channel "cam", account 111122223333
}

func newQuotaFixture(t *testing.T, cfg Config) *quotaFixture {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	channels := channel.NewService(channel.Options{Store: st, Region: "us-west-2", Config: channel.DefaultConfig()})
	ch, err := channels.Create(t.Context(), "111122223333", channel.CreateInput{Name: "cam"})
	if err != nil {
		t.Fatal(err)
	}
	f := &quotaFixture{clock: newStoppedClock(), reg: prometheus.NewRegistry(), arn: ch.ARN}
	f.api, err = New(Options{
		Channels: channels, Auth: headerCaller{}, Presence: nobodyConnected{}, IceServers: stunFixture{},
		Endpoints: Endpoints{HTTPS: "https://localhost", WSS: "wss://localhost"}, MaxBodyBytes: 64 << 10,
		Registerer: f.reg, Limits: cfg, Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// call runs one operation as account and returns the HTTP status and the
// AWS error (empty on success).
func (f *quotaFixture) call(t *testing.T, account, path, body string) (int, kvsapi.ErrorBody) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("X-Account", account)
	rec := httptest.NewRecorder()
	f.api.ServeHTTP(rec, r)
	var e kvsapi.ErrorBody
	if rec.Code != http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("%s: reply %d %q is not in the AWS error shape", path, rec.Code, rec.Body.String())
		}
	}
	return rec.Code, e
}

// quotaCase is one operation and a request body naming a channel.
type quotaCase struct {
	op, path string
	body     func(name, arn string) string // name and ARN of the channel
}

func quotaCases() []quotaCase {
	byARN := func(member, extra string) func(string, string) string {
		return func(_, arn string) string { return fmt.Sprintf(`{%q:%q%s}`, member, arn, extra) }
	}
	byName := func(name, _ string) string { return fmt.Sprintf(`{"ChannelName":%q}`, name) }
	return []quotaCase{
		{opCreateSignalingChannel, kvsapi.PathCreateSignalingChannel, byName},
		{opDescribeSignalingChannel, kvsapi.PathDescribeSignalingChannel, byName},
		{opUpdateSignalingChannel, kvsapi.PathUpdateSignalingChannel, byARN("ChannelARN", `,"CurrentVersion":"stale"`)},
		{opDeleteSignalingChannel, kvsapi.PathDeleteSignalingChannel, byARN("ChannelARN", `,"CurrentVersion":"stale"`)},
		{opTagResource, kvsapi.PathTagResource, byARN("ResourceARN", `,"Tags":[{"Key":"k","Value":"v"}]`)},
		{opUntagResource, kvsapi.PathUntagResource, byARN("ResourceARN", `,"TagKeyList":["k"]`)},
		{opListTagsForResource, kvsapi.PathListTagsForResource, byARN("ResourceARN", "")},
		{opDescribeMediaStorageConfiguration, kvsapi.PathDescribeMediaStorageConfiguration, byARN("ChannelARN", "")},
		{opUpdateMediaStorageConfiguration, kvsapi.PathUpdateMediaStorageConfiguration, byARN("ChannelARN", `,"MediaStorageConfiguration":{"Status":"DISABLED"}`)},
		{opGetSignalingChannelEndpoint, kvsapi.PathGetSignalingChannelEndpoint, byARN("ChannelARN", "")},
		{opDescribeSignalingChannelConnections, kvsapi.PathDescribeSignalingChannelConnections, byARN("ChannelARN", "")},
	}
}

// slowLimits gives every operation an account burst of 3 and a channel
// burst of 2 that do not refill while a test runs (one token in 1000 s).
func slowLimits() Config {
	cfg := Config{RateLimits: true, Operations: Operations{}}
	for op := range defaultLimits() {
		l := Limits{AccountPerSecond: 0.001, AccountBurst: 3, ChannelPerSecond: 0.001, ChannelBurst: 2}
		if op == opListSignalingChannels {
			l.ChannelPerSecond, l.ChannelBurst = 0, 0
		}
		cfg.Operations[op] = l
	}
	return cfg
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func wantThrottled(t *testing.T, status int, e kvsapi.ErrorBody, mentions ...string) {
	t.Helper()
	if status != http.StatusBadRequest || e.Type != "ClientLimitExceededException" {
		t.Fatalf("got %d %s %q, want 400 ClientLimitExceededException", status, e.Type, e.Message)
	}
	for _, m := range mentions {
		if !strings.Contains(e.Message, m) {
			t.Errorf("refusal %q does not mention %q", e.Message, m)
		}
	}
}

func wantServed(t *testing.T, what string, status int, e kvsapi.ErrorBody) {
	t.Helper()
	if e.Type == "ClientLimitExceededException" {
		t.Fatalf("%s: throttled (%d %q), want it served", what, status, e.Message)
	}
}

// TestEveryOperationHasBothQuotas: for each operation that names a
// channel, the channel's burst is shared by calls naming it by name and by
// ARN, another channel has its own, a call the channel quota refuses does
// not use up the account's, and the account's burst covers all channels.
func TestEveryOperationHasBothQuotas(t *testing.T) {
	for _, c := range quotaCases() {
		t.Run(c.op, func(t *testing.T) {
			f := newQuotaFixture(t, slowLimits())
			const acct = "111122223333"
			cam := c.body("cam", f.arn)
			if strings.Contains(cam, "ChannelName") {
				cam2 := fmt.Sprintf(`{"ChannelARN":%q}`, f.arn) // the same channel by ARN, where the operation takes it
				if c.op == opCreateSignalingChannel {
					cam2 = cam
				}
				status, e := f.call(t, acct, c.path, cam)
				wantServed(t, "first call, by name", status, e)
				status, e = f.call(t, acct, c.path, cam2)
				wantServed(t, "second call, by ARN", status, e)
			} else {
				for i := range 2 {
					status, e := f.call(t, acct, c.path, cam)
					wantServed(t, fmt.Sprintf("call %d", i+1), status, e)
				}
			}
			key := "control_plane.operations." + c.op
			status, e := f.call(t, acct, c.path, cam)
			wantThrottled(t, status, e, c.op, "this channel", "limit 0.001 per second, burst 2", key+".channel_per_second", key+".channel_burst")

			// The refused call gave its account token back: one is left,
			// for another channel.
			other := c.body("cam2", strings.Replace(f.arn, "/cam/", "/cam2/", 1))
			status, e = f.call(t, acct, c.path, other)
			wantServed(t, "another channel", status, e)
			status, e = f.call(t, acct, c.path, other)
			wantThrottled(t, status, e, "this account", "burst 3", key+".account_per_second", key+".account_burst")

			// Another account has quotas of its own.
			status, e = f.call(t, "444455556666", c.path, cam)
			wantServed(t, "another account", status, e)

			if got := counterValue(t, f.api.metrics.throttled.WithLabelValues(c.op, "channel")); got != 1 {
				t.Errorf("channel refusals counted %v, want 1", got)
			}
			if got := counterValue(t, f.api.metrics.throttled.WithLabelValues(c.op, "account")); got != 1 {
				t.Errorf("account refusals counted %v, want 1", got)
			}
		})
	}
}

// TestListHasAnAccountQuota: ListSignalingChannels names no channel and
// has the account quota only.
func TestListHasAnAccountQuota(t *testing.T) {
	f := newQuotaFixture(t, slowLimits())
	for i := range 3 {
		status, e := f.call(t, "111122223333", kvsapi.PathListSignalingChannels, `{}`)
		wantServed(t, fmt.Sprintf("call %d", i+1), status, e)
	}
	status, e := f.call(t, "111122223333", kvsapi.PathListSignalingChannels, `{}`)
	wantThrottled(t, status, e, "ListSignalingChannels", "this account", "control_plane.operations.ListSignalingChannels.account_burst")
}

// TestDefaultQuotas: with the defaults, the sixth Describe of one channel
// in the same instant is refused (5 per second, burst 5), the quota
// refills at its rate, and the data-plane operations are not limited
// here.
func TestDefaultQuotas(t *testing.T) {
	f := newQuotaFixture(t, DefaultConfig())
	describe := fmt.Sprintf(`{"ChannelARN":%q}`, f.arn)
	for i := range 5 {
		status, e := f.call(t, "111122223333", kvsapi.PathDescribeSignalingChannel, describe)
		if status != http.StatusOK {
			t.Fatalf("call %d: %d %s %q", i+1, status, e.Type, e.Message)
		}
	}
	status, e := f.call(t, "111122223333", kvsapi.PathDescribeSignalingChannel, describe)
	wantThrottled(t, status, e, "limit 5 per second, burst 5")
	f.clock.advance(200 * time.Millisecond) // one token
	if status, e := f.call(t, "111122223333", kvsapi.PathDescribeSignalingChannel, describe); status != http.StatusOK {
		t.Fatalf("after 200ms: %d %s %q, want one call served", status, e.Type, e.Message)
	}
	status, e = f.call(t, "111122223333", kvsapi.PathDescribeSignalingChannel, describe)
	wantThrottled(t, status, e)

	ice := fmt.Sprintf(`{"ChannelARN":%q}`, f.arn)
	for range 20 {
		status, e := f.call(t, "111122223333", kvsapi.PathGetIceServerConfig, ice)
		wantServed(t, "GetIceServerConfig", status, e)
	}
}

// TestRateLimitsOff: with rate_limits false nothing is refused.
func TestRateLimitsOff(t *testing.T) {
	cfg := slowLimits()
	cfg.RateLimits = false
	f := newQuotaFixture(t, cfg)
	describe := fmt.Sprintf(`{"ChannelARN":%q}`, f.arn)
	for i := range 20 {
		status, e := f.call(t, "111122223333", kvsapi.PathDescribeSignalingChannel, describe)
		if status != http.StatusOK {
			t.Fatalf("call %d: %d %s %q", i+1, status, e.Type, e.Message)
		}
	}
}

// TestZeroRateIsNoLimit: a rate of 0 turns that one limit off.
func TestZeroRateIsNoLimit(t *testing.T) {
	cfg := slowLimits()
	l := cfg.Operations[opDescribeSignalingChannel]
	l.ChannelPerSecond = 0
	cfg.Operations[opDescribeSignalingChannel] = l
	f := newQuotaFixture(t, cfg)
	describe := fmt.Sprintf(`{"ChannelARN":%q}`, f.arn)
	for i := range 3 {
		status, e := f.call(t, "111122223333", kvsapi.PathDescribeSignalingChannel, describe)
		wantServed(t, fmt.Sprintf("call %d", i+1), status, e)
	}
	status, e := f.call(t, "111122223333", kvsapi.PathDescribeSignalingChannel, describe)
	wantThrottled(t, status, e, "this account")
}

// TestInvalidChannelsAreNotKeys: requests naming no valid channel are
// counted against the account only and leave no bucket behind, so that
// long or malformed names cannot fill memory.
func TestInvalidChannelsAreNotKeys(t *testing.T) {
	cfg := DefaultConfig()
	f := newQuotaFixture(t, cfg)
	for _, body := range []string{`{}`, `{"ChannelName":"` + strings.Repeat("x", 5000) + `"}`, `{"ChannelARN":"not-an-arn"}`, `{"ChannelName":"bad name"}`} {
		for range 10 {
			status, e := f.call(t, "111122223333", kvsapi.PathDescribeSignalingChannel, body)
			wantServed(t, body, status, e)
		}
	}
	if n := f.api.quotas.ops[opDescribeSignalingChannel].channel.Len(); n != 0 {
		t.Errorf("%d channel buckets for invalid channels, want none", n)
	}
}

// TestQuotaMemoryIsBounded: buckets that have refilled are forgotten.
func TestQuotaMemoryIsBounded(t *testing.T) {
	f := newQuotaFixture(t, DefaultConfig())
	for i := range 50 {
		f.call(t, "111122223333", kvsapi.PathDescribeSignalingChannel, fmt.Sprintf(`{"ChannelName":"c%d"}`, i))
	}
	q := f.api.quotas.ops[opDescribeSignalingChannel]
	if n := q.channel.Len(); n != 50 {
		t.Fatalf("%d channel buckets, want 50", n)
	}
	f.clock.advance(10 * time.Second)
	f.call(t, "111122223333", kvsapi.PathDescribeSignalingChannel, `{"ChannelName":"last"}`)
	if n := q.channel.Len(); n != 1 {
		t.Errorf("%d channel buckets after they refilled, want 1", n)
	}
	if n := q.account.Len(); n != 1 {
		t.Errorf("%d account buckets, want 1", n)
	}
}

// TestQuotasRunBeforeTheWork: a refused Delete deletes nothing.
func TestQuotasRunBeforeTheWork(t *testing.T) {
	cfg := slowLimits()
	f := newQuotaFixture(t, cfg)
	stale := fmt.Sprintf(`{"ChannelARN":%q,"CurrentVersion":"stale"}`, f.arn)
	for range 2 {
		f.call(t, "111122223333", kvsapi.PathDeleteSignalingChannel, stale)
	}
	status, e := f.call(t, "111122223333", kvsapi.PathDeleteSignalingChannel, fmt.Sprintf(`{"ChannelARN":%q}`, f.arn))
	wantThrottled(t, status, e)
	if status, e := f.call(t, "111122223333", kvsapi.PathDescribeSignalingChannel, `{"ChannelName":"cam"}`); status != http.StatusOK {
		t.Fatalf("the channel is gone after a refused delete: %d %s", status, e.Type)
	}
}

// TestEveryOperationHasLimits: each operation the API serves has default
// limits here or settings elsewhere, and the operations the channel
// quota test covers are all those with a channel limit, so that a new
// operation cannot go unlimited by accident.
func TestEveryOperationHasLimits(t *testing.T) {
	f := newQuotaFixture(t, DefaultConfig())
	defaults := defaultLimits()
	for _, op := range f.api.operations {
		_, limited := defaults[op.name]
		_, elsewhere := limitedElsewhere[op.name]
		if limited == elsewhere {
			t.Errorf("%s: default limits %v, limited elsewhere %v; want exactly one", op.name, limited, elsewhere)
		}
	}
	covered := map[string]bool{}
	for _, c := range quotaCases() {
		covered[c.op] = true
	}
	for op := range defaults {
		if !covered[op] && op != opListSignalingChannels {
			t.Errorf("%s has no case in quotaCases", op)
		}
	}
}

// spentIceQuota refuses every GetIceServerConfig call as throttled.
type spentIceQuota struct{ stunFixture }

func (spentIceQuota) AdmitCall(string, string) error {
	return kvsapi.Errorf(kvsapi.CodeClientLimitExceeded, "GetIceServerConfig quota spent")
}

// TestIceQuotaRunsBeforeTheLookup: like every other operation,
// GetIceServerConfig takes its quota before it reads the store, so a
// throttled caller is refused as such even for a channel that does not
// exist, and costs no lookup.
func TestIceQuotaRunsBeforeTheLookup(t *testing.T) {
	f := newQuotaFixture(t, DefaultConfig())
	api, err := New(Options{
		Channels: f.api.channels, Auth: headerCaller{}, Presence: nobodyConnected{}, IceServers: spentIceQuota{},
		Endpoints: Endpoints{HTTPS: "https://localhost", WSS: "wss://localhost"}, MaxBodyBytes: 64 << 10,
		Registerer: prometheus.NewRegistry(), Limits: DefaultConfig(), Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.api = api
	missing := strings.Replace(f.arn, "/cam/", "/no-such-channel/", 1)
	status, e := f.call(t, "111122223333", kvsapi.PathGetIceServerConfig, fmt.Sprintf(`{"ChannelARN":%q}`, missing))
	wantThrottled(t, status, e)
}
