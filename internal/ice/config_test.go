package ice

import (
	"math"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDefaultConfigIsValidAndSafe(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"enabled", cfg.Enabled && cfg.Embedded() && !cfg.External()},
		{"ports", cfg.UDPAddr == ":3478" && cfg.TCPAddr == ":3478" && cfg.TLSAddr == ":5349"},
		{"ttl 5m", time.Duration(cfg.CredentialTTL) == 5*time.Minute},
		{"5 Mbps", cfg.BandwidthBitsPerSecond == 5_000_000},
		{"per channel capped", cfg.MaxAllocationsPerChannel > 0},
		{"per credential capped", cfg.MaxAllocationsPerCredential > 0},
		{"per account: a quarter of the relay ports", cfg.MaxAllocationsPerAccount == (cfg.RelayPortMax-cfg.RelayPortMin+1)/4},
		{"TCP connections capped", cfg.MaxTCPConnections == 10000 && cfg.MaxTCPConnectionsPerIP == 256},
		{"no allow-list", len(cfg.AllowPeers) == 0},
		{"https port off", !cfg.OnHTTPSPort},
		{"udp listeners", cfg.UDPListeners >= 1},
		{"5 calls per second", cfg.GetIceServerConfigPerSecond == 5 && cfg.GetIceServerConfigBurst >= 1},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("default %s: %+v", c.name, cfg)
		}
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	cfg := DefaultConfig()
	cfg.UDPAddr = "3478"
	cfg.TCPAddr = "host:99999"
	cfg.RelayIP = "0.0.0.0"
	cfg.RelayPortMin, cfg.RelayPortMax = 50000, 40000
	cfg.AllowPeers = []string{"127.0.0.1", "10.0.0.0/8"}
	cfg.CredentialTTL = Duration(30 * time.Second)
	cfg.SecretRotation = 0
	cfg.BandwidthBitsPerSecond = -1
	cfg.MaxAllocationsPerCredential = -1
	cfg.MaxAllocationsPerChannel = -2
	cfg.MaxAllocationsPerAccount = -3
	cfg.MaxTCPConnectionsPerAllocation = -1
	cfg.MaxPermissionsPerAllocation = -1
	cfg.UDPListeners = 0
	cfg.GetIceServerConfigPerSecond = 0
	cfg.GetIceServerConfigBurst = 0
	cfg.Realm = ""
	cfg.ExternalURIs = []string{"http://example.com", "turn:relay.example.com:3478"}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, key := range []string{
		"turn.udp_addr", "turn.tcp_addr", "turn.relay_ip", "turn.relay_port_max", "turn.allow_peers[0]",
		"turn.credential_ttl", "turn.secret_rotation", "turn.bandwidth_bits_per_second", "turn.max_allocations_per_credential",
		"turn.max_allocations_per_channel", "turn.max_allocations_per_account", "turn.max_tcp_connections_per_allocation", "turn.max_permissions_per_allocation", "turn.udp_listeners", "turn.get_ice_server_config_per_second",
		"turn.get_ice_server_config_burst", "turn.realm", "turn.external_uris[0]", "turn.external_secret",
	} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("error does not name %s:\n%v", key, err)
		}
	}
	if strings.Contains(err.Error(), "allow_peers[1]") {
		t.Errorf("a valid CIDR was reported: %v", err)
	}
}

func TestValidateCases(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*Config)
		wantKey string // "" for valid
	}{
		{"ttl 31s, the minimum", func(c *Config) { c.CredentialTTL = Duration(31 * time.Second) }, ""},
		{"ttl 30.5s would be reported as 30", func(c *Config) { c.CredentialTTL = Duration(30500 * time.Millisecond) }, "turn.credential_ttl"},
		{"ttl just under 31s", func(c *Config) { c.CredentialTTL = Duration(31*time.Second - time.Nanosecond) }, "turn.credential_ttl"},
		{"no connection caps", withCaps(0, 0), ""},
		{"negative connection cap", withCaps(-1, 10), "turn.max_tcp_connections"},
		{"negative per-IP connection cap", withCaps(100, -1), "turn.max_tcp_connections_per_ip"},
		{"ttl one day", func(c *Config) { c.CredentialTTL = Duration(24 * time.Hour) }, ""},
		{"ttl over a day", func(c *Config) { c.CredentialTTL = Duration(25 * time.Hour) }, "turn.credential_ttl"},
		{"key rotation as short as the ttl", func(c *Config) { c.SecretRotation = c.CredentialTTL }, ""},
		{"key rotation shorter than the ttl", func(c *Config) { c.SecretRotation = Duration(4 * time.Minute) }, "turn.secret_rotation"},
		{"key rotation a year", func(c *Config) { c.SecretRotation = Duration(366 * 24 * time.Hour) }, ""},
		{"key rotation over a year", func(c *Config) { c.SecretRotation = Duration(367 * 24 * time.Hour) }, "turn.secret_rotation"},
		{"key rotation in part seconds", func(c *Config) { c.SecretRotation = Duration(time.Hour + time.Millisecond) }, "turn.secret_rotation"},
		{"no relay port range", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 0, 0 }, ""},
		{"half a range", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 0, 60000 }, "turn.relay_port_min"},
		{"listeners all off", func(c *Config) { c.UDPAddr, c.TCPAddr, c.TLSAddr = "", "", "" }, "turn.enabled"},
		{"only the https port", func(c *Config) { c.UDPAddr, c.TCPAddr, c.TLSAddr, c.OnHTTPSPort = "", "", "", true }, ""},
		{"disabled with no listeners", func(c *Config) { c.Enabled, c.UDPAddr, c.TCPAddr, c.TLSAddr = false, "", "", "" }, ""},
		{"external with secret", func(c *Config) {
			c.ExternalURIs, c.ExternalSecret = []string{"turn:turn.example.com:3478?transport=udp", "stun:turn.example.com:3478"}, "s3cret"
		}, ""},
		{"external stun only needs no secret", func(c *Config) { c.ExternalURIs = []string{"stun:stun.example.com:3478"} }, ""},
		{"secret without uris", func(c *Config) { c.ExternalSecret = "s3cret" }, "turn.external_secret"},
		{"too many external uris", func(c *Config) {
			c.ExternalSecret = "x"
			for range 21 {
				c.ExternalURIs = append(c.ExternalURIs, "turn:a:1")
			}
		}, "turn.external_uris"},
		{"ipv6 allow-list", func(c *Config) { c.AllowPeers = []string{"::1/128", "fd00::/8"} }, ""},
		{"relay ip v6", func(c *Config) { c.RelayIP = "2001:db8::10" }, ""},
		{"ice server rate NaN", func(c *Config) { c.GetIceServerConfigPerSecond = math.NaN() }, "turn.get_ice_server_config_per_second"},
		{"ice server rate infinite", func(c *Config) { c.GetIceServerConfigPerSecond = math.Inf(1) }, "turn.get_ice_server_config_per_second"},
		{"ice server rate zero", func(c *Config) { c.GetIceServerConfigPerSecond = 0 }, "turn.get_ice_server_config_per_second"},
		{"ice server burst zero", func(c *Config) { c.GetIceServerConfigBurst = 0 }, "turn.get_ice_server_config_burst"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			switch {
			case tc.wantKey == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantKey != "" && (err == nil || !strings.Contains(err.Error(), tc.wantKey+":")):
				t.Fatalf("want an error naming %s, got %v", tc.wantKey, err)
			}
		})
	}
}

// TestCredentialTTLMinimumMessage checks that a refused credential_ttl
// names the limit and the value given.
func TestCredentialTTLMinimumMessage(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CredentialTTL = Duration(30500 * time.Millisecond)
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "31s") || !strings.Contains(err.Error(), "got 30.5s") {
		t.Fatalf("want an error naming 31s and 30.5s, got %v", err)
	}
}

func TestConfigYAMLRoundTrip(t *testing.T) {
	in := `enabled: true
udp_addr: ":3478"
credential_ttl: 10m
allow_peers: ["127.0.0.0/8"]
external_uris: []
`
	cfg := DefaultConfig()
	if err := yaml.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.CredentialTTL) != 10*time.Minute || cfg.AllowPeers[0] != "127.0.0.0/8" {
		t.Fatalf("decoded %+v", cfg)
	}
	out, err := yaml.Marshal(cfg.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "credential_ttl: 10m0s") {
		t.Fatalf("marshalled:\n%s", out)
	}
	var back Config
	if err := yaml.Unmarshal(out, &back); err != nil || back.CredentialTTL != cfg.CredentialTTL {
		t.Fatalf("round trip: %v %+v", err, back)
	}
}

func TestRedactedMasksSecret(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ExternalURIs, cfg.ExternalSecret = []string{"turn:a:3478"}, "top-secret"
	r := cfg.Redacted()
	if r.ExternalSecret == "top-secret" || cfg.ExternalSecret != "top-secret" {
		t.Fatalf("redacted %q, original %q", r.ExternalSecret, cfg.ExternalSecret)
	}
}
