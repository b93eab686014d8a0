package ice

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

func newProvider(t *testing.T, cfg Config, deps Deps) *Service {
	t.Helper()
	if deps.Secrets == nil {
		deps.Secrets = &memSecrets{}
	}
	if deps.TLS == nil {
		deps.TLS, _ = testCert(t)
	}
	svc, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestIceServersShapeEmbedded(t *testing.T) {
	cases := []struct {
		name       string
		cfg        func(*Config)
		publicHost string
		entry0     []string
		entry1     []string
	}{
		{"defaults", nil, "switchboard.example.com", []string{
			"turn:switchboard.example.com:3478?transport=udp",
			"turn:switchboard.example.com:3478?transport=tcp",
			"turns:switchboard.example.com:5349?transport=tcp",
		}, []string{"stun:switchboard.example.com:3478"}},
		{"https port too", func(c *Config) { c.OnHTTPSPort = true }, "203.0.113.5", []string{
			"turn:203.0.113.5:3478?transport=udp",
			"turn:203.0.113.5:3478?transport=tcp",
			"turns:203.0.113.5:5349?transport=tcp",
			"turns:203.0.113.5:443?transport=tcp",
		}, []string{"stun:203.0.113.5:3478"}},
		{"ipv6 host and custom ports", func(c *Config) {
			c.UDPAddr, c.TCPAddr, c.TLSAddr, c.OnHTTPSPort = ":3479", "", "[::]:443", true
		}, "[2001:db8::5]:8443", []string{
			"turn:[2001:db8::5]:3479?transport=udp",
			"turns:[2001:db8::5]:443?transport=tcp",
			"turns:[2001:db8::5]:8443?transport=tcp",
		}, []string{"stun:[2001:db8::5]:3479"}},
		{"tcp only", func(c *Config) { c.UDPAddr, c.TLSAddr = "", "" }, "h.example", []string{
			"turn:h.example:3478?transport=tcp",
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			svc := newProvider(t, cfg, Deps{PublicHost: tc.publicHost})
			servers, err := svc.IceServers(context.Background(), principal(), activeChannel(testARN), "viewer-1")
			if err != nil {
				t.Fatal(err)
			}
			checkShape(t, servers)
			if got := strings.Join(servers[0].Uris, " "); got != strings.Join(tc.entry0, " ") {
				t.Fatalf("entry 0 %v, want %v", servers[0].Uris, tc.entry0)
			}
			if tc.entry1 == nil {
				if len(servers) != 1 {
					t.Fatalf("%d entries, want 1", len(servers))
				}
				return
			}
			if len(servers) != 2 || strings.Join(servers[1].Uris, " ") != strings.Join(tc.entry1, " ") {
				t.Fatalf("entries %+v, want entry 1 %v", servers, tc.entry1)
			}
		})
	}
}

// checkShape asserts the limits KVS clients enforce (spec 5.1.2) and the
// wire types (integer Ttl).
func checkShape(t *testing.T, servers []kvsapi.IceServer) {
	t.Helper()
	if len(servers) < 1 || len(servers) > 5 {
		t.Fatalf("%d entries", len(servers))
	}
	for i, s := range servers {
		if len(s.Uris) < 1 || len(s.Uris) > 4 || len(s.Username) > 256 || len(s.Password) > 256 || s.Ttl <= 30 {
			t.Fatalf("entry %d: %+v", i, s)
		}
		for _, u := range s.Uris {
			if len(u) > 256 || !(strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") || strings.HasPrefix(u, "stun:")) {
				t.Fatalf("entry %d: URI %q", i, u)
			}
			if strings.HasPrefix(u, "turns:") && strings.HasSuffix(u, "transport=udp") {
				t.Fatalf("turns over UDP (DTLS) is not served: %q", u)
			}
		}
	}
	raw, err := json.Marshal(kvsapi.GetIceServerConfigOutput{IceServerList: servers})
	if err != nil {
		t.Fatal(err)
	}
	var wire struct {
		IceServerList []map[string]json.RawMessage
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		t.Fatal(err)
	}
	for _, e := range wire.IceServerList {
		if ttl := string(e["Ttl"]); strings.Trim(ttl, "0123456789") != "" || ttl == "" {
			t.Fatalf("Ttl %s is not a plain JSON integer", ttl)
		}
	}
}

// TestMinimumCredentialTTLIsReportedAbove30 checks both sides of the
// minimum: the shortest TTL accepted is reported as Ttl 31, and one that
// would be reported as 30 (30.5s truncated) cannot be configured.
func TestMinimumCredentialTTLIsReportedAbove30(t *testing.T) {
	cfg := DefaultConfig()
	withCredentialTTL(31 * time.Second)(&cfg)
	svc := newProvider(t, cfg, Deps{PublicHost: "h.example"})
	servers, err := svc.IceServers(context.Background(), principal(), activeChannel(testARN), "viewer-1")
	if err != nil {
		t.Fatal(err)
	}
	checkShape(t, servers)
	for _, s := range servers {
		if s.Ttl != 31 {
			t.Errorf("entry %v has Ttl %d, want 31", s.Uris, s.Ttl)
		}
	}
	withCredentialTTL(30*time.Second + 500*time.Millisecond)(&cfg)
	_, err = New(cfg, Deps{Secrets: &memSecrets{}})
	if err == nil || !strings.Contains(err.Error(), "turn.credential_ttl") {
		t.Fatalf("New with a 30.5s TTL: %v", err)
	}
}

func TestIceServersCredentialIsScopedAndVerifiable(t *testing.T) {
	secrets := &memSecrets{}
	clock := newFakeClock()
	svc := newProvider(t, DefaultConfig(), clock.deps(Deps{Secrets: secrets, PublicHost: "h.example"}))
	servers, err := svc.IceServers(context.Background(), principal(), activeChannel(testARN), "viewer-1")
	if err != nil {
		t.Fatal(err)
	}
	s0 := servers[0]
	if s0.Ttl != 300 || servers[1].Username != s0.Username || servers[1].Password != s0.Password {
		t.Fatalf("entries %+v", servers)
	}
	cred, err := parseUsername(s0.Username)
	if err != nil {
		t.Fatal(err)
	}
	if d := cred.Expiry.Sub(clock.Now()); d < 299*time.Second || d > 301*time.Second {
		t.Fatalf("expiry in %s, want 300s", d)
	}
	if cred.Scope != newScope(testAccount, testARN, "viewer-1") {
		t.Fatalf("scope %+v", cred.Scope)
	}
	if want := clock.Now().Unix() / 86400 * 86400; cred.KeyStart != want {
		t.Fatalf("signed with the key of the period starting at %d, want %d (the day's)", cred.KeyStart, want)
	}
	secret, _ := secrets.Secret(context.Background(), keyName(cred.KeyStart), nil)
	if len(secret) != 32 || !checkPassword(secret, s0.Username, s0.Password) {
		t.Fatalf("password does not verify with the stored %d-byte key", len(secret))
	}
	// A second Service on the same store (a restart, or another node)
	// verifies it too.
	again := newProvider(t, DefaultConfig(), clock.deps(Deps{Secrets: secrets, PublicHost: "h.example"}))
	if err := again.keys.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	secret2, ok := again.keys.verifyKey(cred)
	if !ok || !checkPassword(secret2, s0.Username, s0.Password) {
		t.Fatalf("credential not valid after restart (key found: %v)", ok)
	}
}

func TestIceServersErrors(t *testing.T) {
	clock := newFakeClock()
	cfg := DefaultConfig()
	cfg.GetIceServerConfigPerSecond, cfg.GetIceServerConfigBurst = 5, 3
	h := &harness{reg: prometheus.NewRegistry()}
	svc := newProvider(t, cfg, clock.deps(Deps{PublicHost: "h.example", Registerer: h.reg}))
	ctx := context.Background()
	account := activeChannel(testARN).Account
	for i := range 3 {
		if err := svc.AdmitCall(account, testARN); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	err := svc.AdmitCall(account, testARN)
	if code := apiCode(err); code != "ClientLimitExceededException" {
		t.Fatalf("4th call in the same instant: %v", err)
	}
	for _, want := range []string{"5 per second", "burst of 3", "turn.get_ice_server_config_per_second", "turn.get_ice_server_config_burst"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("throttling message %q does not say %q", err.Error(), want)
		}
	}
	if err := svc.AdmitCall(account, otherARN); err != nil {
		t.Fatalf("another channel is throttled too: %v", err)
	}
	clock.Advance(250 * time.Millisecond) // one token back at 5/s
	if err := svc.AdmitCall(account, testARN); err != nil {
		t.Fatalf("after the refill: %v", err)
	}
	deleting := activeChannel(testARN)
	deleting.Status = kvsapi.ChannelStatusDeleting
	if _, err := svc.IceServers(ctx, principal(), deleting, ""); apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("deleting channel: %v", err)
	}
	if got := h.counter(t, "switchboard_turn_get_ice_server_config_throttled_total"); got != 1 {
		t.Fatalf("throttled metric %v, want 1", got)
	}
}

func TestIceServersSecretStoreFailure(t *testing.T) {
	svc := newProvider(t, DefaultConfig(), Deps{Secrets: failingSecrets{}, PublicHost: "h.example"})
	_, err := svc.IceServers(context.Background(), principal(), activeChannel(testARN), "")
	if apiCode(err) != "ServiceUnavailableException" {
		t.Fatalf("got %v", err)
	}
}

type failingSecrets struct{}

func (failingSecrets) Secret(context.Context, string, func() ([]byte, error)) ([]byte, error) {
	return nil, errors.New("store down")
}

func (failingSecrets) DeleteSecret(context.Context, string) error { return errors.New("store down") }

func TestIceServersExternalMode(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ExternalURIs = []string{
		"stun:stun.example.com:3478",
		"turn:turn.example.com:3478?transport=udp",
		"turns:turn.example.com:5349?transport=tcp",
		"turn:turn.example.com:3478?transport=tcp",
		"turn:turn2.example.com:3478?transport=udp",
	}
	cfg.ExternalSecret = "coturn-static-auth-secret"
	svc := newProvider(t, cfg, Deps{Secrets: failingSecrets{}}) // the store is not used
	if svc.SplitTURN(nil) != nil {
		t.Fatal("SplitTURN wraps the listener in external mode")
	}
	servers, err := svc.IceServers(context.Background(), principal(), activeChannel(testARN), "c")
	if err != nil {
		t.Fatal(err)
	}
	checkShape(t, servers)
	if len(servers) != 2 || len(servers[0].Uris) != 4 || servers[0].Uris[0] != cfg.ExternalURIs[1] ||
		servers[0].Uris[3] != "turn:turn2.example.com:3478?transport=udp" || len(servers[1].Uris) != 1 ||
		servers[1].Uris[0] != "stun:stun.example.com:3478" {
		t.Fatalf("entries %+v", servers)
	}
	if !checkPassword([]byte(cfg.ExternalSecret), servers[0].Username, servers[0].Password) {
		t.Fatal("password is not HMAC-SHA1 with the external secret")
	}
}

func TestIceServersDisabled(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled = false
	for _, tc := range []struct{ region, want string }{
		{"us-west-2", "stun:stun.kinesisvideo.us-west-2.amazonaws.com:443"},
		{"cn-north-1", "stun:stun.kinesisvideo.cn-north-1.amazonaws.com.cn:443"},
		{"", "stun:h.example:3478"},
	} {
		svc := newProvider(t, cfg, Deps{PublicHost: "h.example:8443", Region: tc.region})
		servers, err := svc.IceServers(context.Background(), principal(), activeChannel(testARN), "")
		if err != nil {
			t.Fatal(err)
		}
		checkShape(t, servers)
		if len(servers) != 1 || servers[0].Uris[0] != tc.want {
			t.Fatalf("region %q: %+v", tc.region, servers)
		}
	}
}

func TestRelayIPChoice(t *testing.T) {
	ifaces := []string{"127.0.0.1", "::1", "fe80::1", "169.254.3.3", "10.1.2.3", "192.168.1.4"}
	cases := []struct{ configured, publicHost, want string }{
		{"198.51.100.1", "h.example", "198.51.100.1"},
		{"", "203.0.113.7:443", "203.0.113.7"},
		{"", "203.0.113.7", "203.0.113.7"},
		{"", "h.example:8443", "10.1.2.3"},
		{"", "[2001:db8::1]:443", "10.1.2.3"},
		{"", "0.0.0.0:8443", "10.1.2.3"},
	}
	for _, tc := range cases {
		if got := chooseRelayIP(tc.configured, tc.publicHost, addrs(ifaces...)); got.String() != tc.want {
			t.Errorf("chooseRelayIP(%q, %q) = %s, want %s", tc.configured, tc.publicHost, got, tc.want)
		}
	}
	if got := chooseRelayIP("", "h.example", addrs("127.0.0.1")); got.String() != "127.0.0.1" {
		t.Errorf("loopback only: %s", got)
	}
	if got := chooseRelayIP("", "[2001:db8::1]:443", addrs("127.0.0.1")); got.String() != "2001:db8::1" {
		t.Errorf("v6 host, no v4 interface: %s", got)
	}
}

func apiCode(err error) string {
	var apiErr *kvsapi.Error
	if errors.As(err, &apiErr) {
		return apiErr.Code.Name
	}
	return ""
}

func addrs(list ...string) []netip.Addr {
	out := make([]netip.Addr, len(list))
	for i, a := range list {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}
