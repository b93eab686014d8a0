package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/signaling"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLayering checks the order defaults < file < environment < flags.
func TestLayering(t *testing.T) {
	file := writeFile(t, "server:\n  region: eu-west-1\n  addr: \":1000\"\n  data_dir: /from/file\n  shutdown_timeout: 9s\nchannels:\n  max_per_account: 7\n")
	cases := []struct {
		name   string
		args   []string
		env    map[string]string
		region string
		addr   string
		dir    string
		limit  int
	}{
		{"defaults", nil, nil, DefaultRegion, DefaultAddr, DefaultDataDir, 10000},
		{"file over defaults", []string{"--config", file}, nil, "eu-west-1", ":1000", "/from/file", 7},
		{"file named by the environment", nil, map[string]string{"SWITCHBOARD_CONFIG": file}, "eu-west-1", ":1000", "/from/file", 7},
		{"environment over file", []string{"--config", file}, map[string]string{"SWITCHBOARD_REGION": "ap-south-1", "SWITCHBOARD_MAX_CHANNELS_PER_ACCOUNT": "3"}, "ap-south-1", ":1000", "/from/file", 3},
		{"flags over environment", []string{"--config", file, "--region", "us-west-2", "--addr", "127.0.0.1:0"}, map[string]string{"SWITCHBOARD_REGION": "ap-south-1"}, "us-west-2", "127.0.0.1:0", "/from/file", 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load("test", Source{Args: tc.args, Env: env(tc.env)})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Server.Region != tc.region || cfg.Server.Addr != tc.addr || cfg.Server.DataDir != tc.dir || cfg.Channels.MaxPerAccount != tc.limit {
				t.Fatalf("got region %q addr %q dir %q limit %d", cfg.Server.Region, cfg.Server.Addr, cfg.Server.DataDir, cfg.Channels.MaxPerAccount)
			}
		})
	}
	cfg, err := Load("test", Source{Args: []string{"--config", file}, Env: env(nil)})
	if err != nil || time.Duration(cfg.Server.ShutdownTimeout) != 9*time.Second {
		t.Fatalf("duration from file: %v %v", cfg.Server.ShutdownTimeout, err)
	}
}

// TestProblemsAreAllReported checks that one load lists every problem with
// its key, from every layer.
func TestProblemsAreAllReported(t *testing.T) {
	file := writeFile(t, "server:\n  account_id: \"1\"\naccounts:\n  - id: \"222233334444\"\n    access_key_id: short\n    secret_access_key: x\n")
	_, err := Load("test", Source{
		Args: []string{"--config", file, "--log-format", "xml", "--shutdown-timeout", "soon"},
		Env:  env(map[string]string{"SWITCHBOARD_MAX_CHANNELS_PER_ACCOUNT": "many", "SWITCHBOARD_ACCESS_KEY_ID": "AKIAONLYTHEKEYID0000"}),
	})
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{"server.account_id", "accounts[0].access_key_id", "accounts[0].secret_access_key", "log.format",
		"--shutdown-timeout", "SWITCHBOARD_MAX_CHANNELS_PER_ACCOUNT", "credentials"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems do not mention %s:\n%v", want, err)
		}
	}
}

func TestUnknownKeysAndArguments(t *testing.T) {
	file := writeFile(t, "server:\n  region: us-east-1\n  regoin: typo\n")
	if _, err := Load("test", Source{Args: []string{"--config", file}, Env: env(nil)}); err == nil || !strings.Contains(err.Error(), "regoin") {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := Load("test", Source{Args: []string{"--no-such-flag"}, Env: env(nil)}); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if _, err := Load("test", Source{Args: []string{"stray"}, Env: env(nil)}); err == nil || !strings.Contains(err.Error(), "stray") {
		t.Fatalf("stray argument: %v", err)
	}
	if _, err := Load("test", Source{Args: []string{"--config", "/does/not/exist.yaml"}, Env: env(nil)}); err == nil {
		t.Fatal("missing config file accepted")
	}
}

func TestRedactedHidesSecrets(t *testing.T) {
	cfg := Default()
	cfg.Credentials = Keys{AccessKeyID: "AKIAEXAMPLEEXAMPLE00", SecretAccessKey: "super-secret-value"}
	cfg.Accounts = []Account{{ID: "111122223333", AccessKeyID: "AKIAEXAMPLEEXAMPLE01", SecretAccessKey: "another-secret"}}
	r := cfg.Redacted()
	if r.Credentials.SecretAccessKey == cfg.Credentials.SecretAccessKey || r.Accounts[0].SecretAccessKey == "another-secret" {
		t.Fatal("secrets survive redaction")
	}
	if cfg.Accounts[0].SecretAccessKey != "another-secret" {
		t.Fatal("Redacted changed the original")
	}
}

// TestTurnConnectionCaps checks that the TURN connection caps reach the
// turn section from the file, the environment and the flags, like the
// other TURN settings.
func TestTurnConnectionCaps(t *testing.T) {
	file := writeFile(t, "turn:\n  max_tcp_connections: 500\n  max_tcp_connections_per_ip: 20\n")
	cases := []struct {
		name         string
		args         []string
		env          map[string]string
		total, perIP int
	}{
		{"defaults", nil, nil, 10000, 256},
		{"file", []string{"--config", file}, nil, 500, 20},
		{"environment", nil, map[string]string{"SWITCHBOARD_TURN_MAX_TCP_CONNECTIONS": "7", "SWITCHBOARD_TURN_MAX_TCP_CONNECTIONS_PER_IP": "3"}, 7, 3},
		{"flags over the file", []string{"--config", file, "--turn-max-tcp-connections", "0", "--turn-max-tcp-connections-per-ip", "9"}, nil, 0, 9},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load("test", Source{Args: tc.args, Env: env(tc.env)})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Turn.MaxTCPConnections != tc.total || cfg.Turn.MaxTCPConnectionsPerIP != tc.perIP {
				t.Fatalf("got %d total, %d per IP", cfg.Turn.MaxTCPConnections, cfg.Turn.MaxTCPConnectionsPerIP)
			}
		})
	}
}

// TestTurnProblemsAreReported checks that Load (and so check-config)
// validates the turn section too.
func TestTurnProblemsAreReported(t *testing.T) {
	_, err := Load("test", Source{
		Args: []string{"--turn-credential-ttl", "30.5s", "--turn-max-tcp-connections-per-ip", "-1"},
		Env:  env(nil),
	})
	if err == nil {
		t.Fatal("invalid turn settings accepted")
	}
	for _, want := range []string{"turn.credential_ttl", "30.5s", "turn.max_tcp_connections_per_ip"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems do not mention %s:\n%v", want, err)
		}
	}
}

// TestBoolFlagValueAfterSpace checks that "--turn false", which the flag
// package reads as --turn plus a stray argument, is refused with the
// spelling that works.
func TestBoolFlagValueAfterSpace(t *testing.T) {
	_, err := Load("test", Source{Args: []string{"--turn", "false"}, Env: env(nil)})
	if err == nil || !strings.Contains(err.Error(), "--turn=false") {
		t.Fatalf("got %v, want the error to suggest --turn=false", err)
	}
	_, err = Load("test", Source{Args: []string{"--region", "eu-west-1", "stray"}, Env: env(nil)})
	if err == nil || !strings.Contains(err.Error(), "unexpected arguments: stray") || strings.Contains(err.Error(), "'='") {
		t.Fatalf("got %v, want a plain unexpected-argument error", err)
	}
}

// TestControlPlaneLimits checks that the control_plane section reaches
// the configuration from the file, its switch from the environment and
// the flags, and that a file entry changes only the keys it gives.
func TestControlPlaneLimits(t *testing.T) {
	file := writeFile(t, "control_plane:\n  operations:\n    DescribeSignalingChannel:\n      channel_per_second: 20\n      channel_burst: 40\n")
	cfg, err := Load("test", Source{Args: []string{"--config", file}, Env: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	describe := cfg.ControlPlane.Operations["DescribeSignalingChannel"]
	if !cfg.ControlPlane.RateLimits || describe.ChannelPerSecond != 20 || describe.ChannelBurst != 40 || describe.AccountPerSecond != 300 {
		t.Fatalf("got %+v", cfg.ControlPlane)
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		on   bool
	}{
		{"default", nil, nil, true},
		{"file", []string{"--config", writeFile(t, "control_plane:\n  rate_limits: false\n")}, nil, false},
		{"environment", nil, map[string]string{"SWITCHBOARD_CONTROL_PLANE_RATE_LIMITS": "false"}, false},
		{"bare flag over the environment", []string{"--control-plane-rate-limits"}, map[string]string{"SWITCHBOARD_CONTROL_PLANE_RATE_LIMITS": "false"}, true},
		{"flag", []string{"--control-plane-rate-limits=false"}, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load("test", Source{Args: tc.args, Env: env(tc.env)})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ControlPlane.RateLimits != tc.on {
				t.Fatalf("rate limits %v, want %v", cfg.ControlPlane.RateLimits, tc.on)
			}
		})
	}
}

// TestControlPlaneProblemsAreReported: unknown operations, negative
// values and unknown keys of an entry are refused with their keys.
func TestControlPlaneProblemsAreReported(t *testing.T) {
	file := writeFile(t, `control_plane:
  operations:
    DescribeSignalingChanel:
      account_per_second: 1
    TagResource:
      account_per_second: -1
      channel_burst: -5
    SendAlexaOfferToMaster:
      account_per_second: 1
`)
	_, err := Load("test", Source{Args: []string{"--config", file}, Env: env(nil)})
	if err == nil {
		t.Fatal("invalid control_plane settings accepted")
	}
	for _, want := range []string{
		"control_plane.operations.DescribeSignalingChanel: no such operation",
		"control_plane.operations.TagResource.account_per_second: must be 0 (no limit) or a positive number, got -1",
		"control_plane.operations.TagResource.channel_burst: must be 0",
		"control_plane.operations.SendAlexaOfferToMaster: SendAlexaOfferToMaster is limited by the signaling.alexa_offer* settings",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems do not mention %q:\n%v", want, err)
		}
	}
	file = writeFile(t, "control_plane:\n  operations:\n    TagResource:\n      burst: 5\n")
	_, err = Load("test", Source{Args: []string{"--config", file}, Env: env(nil)})
	if err == nil || !strings.Contains(err.Error(), `control_plane.operations.TagResource: line 4: unknown key "burst"`) {
		t.Errorf("unknown key of an entry: %v", err)
	}
	_, err = Load("test", Source{Args: []string{"--control-plane-rate-limits=maybe"}, Env: env(nil)})
	if err == nil || !strings.Contains(err.Error(), "--control-plane-rate-limits") {
		t.Errorf("bad switch value: %v", err)
	}
}

// TestPublicHost: the advertised host becomes every endpoint URL and TURN
// URI, so only values those can be built from are accepted.
func TestPublicHost(t *testing.T) {
	for host, ok := range map[string]bool{
		"example.com":         true,
		"example.com:8443":    true,
		"signal.example.com.": true,
		"127.0.0.1":           true,
		"127.0.0.1:8443":      true,
		"[2001:db8::1]":       true,
		"[2001:db8::1]:8443":  true,
		"cam_1.local":         true,
		"2001:db8::1":         false, // a port or an address?
		"example.com:84x3":    false,
		"example.com:0":       false,
		"example.com:65536":   false,
		"exa$mple.com":        false,
		"-bad.example.com":    false,
		"[example.com]":       false,
		"https://example.com": false,
		"example.com/path":    false,
		"[fe80::1%eth0]":      false,
	} {
		cfg := Default()
		cfg.Server.PublicHost = host
		err := cfg.Validate()
		if got := err == nil || !strings.Contains(err.Error(), "server.public_host"); got != ok {
			t.Errorf("public_host %q: accepted %v, want %v (%v)", host, got, ok, err)
		}
	}
}

// TestTLSFilesAreLoaded: a certificate and key that exist but are not a
// usable pair are refused by check-config, not found out by serve.
func TestTLSFilesAreLoaded(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.Server.TLSCert, cfg.Server.TLSKey = dir, garbage // a directory and a file that is no PEM
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "server.tls_cert") {
		t.Fatalf("a directory as certificate was accepted: %v", err)
	}
	cfg.Server.TLSCert = garbage
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "not a usable certificate and key pair") {
		t.Fatalf("a file that is no PEM was accepted as certificate and key: %v", err)
	}
}

// TestShutdownTimeoutOutlastsTheDrain: the HTTPS server stops after the
// WebSocket drain, within the same shutdown timeout.
func TestShutdownTimeoutOutlastsTheDrain(t *testing.T) {
	cfg := Default()
	cfg.Server.ShutdownTimeout = Duration(5 * time.Second)
	cfg.Signaling.ShutdownDrain = signaling.Duration(5 * time.Second)
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "must be longer than signaling.shutdown_drain") {
		t.Fatalf("a shutdown timeout no longer than the drain was accepted: %v", err)
	}
	cfg.Server.ShutdownTimeout = Duration(6 * time.Second)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("6 s after a 5 s drain: %v", err)
	}
}

// TestTurnAccountAllocationCap checks that turn.max_allocations_per_account
// reaches the turn section from the file, the environment and the flag,
// and that a negative value is refused with the key's name.
func TestTurnAccountAllocationCap(t *testing.T) {
	file := writeFile(t, "turn:\n  max_allocations_per_account: 500\n")
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want int
	}{
		{"default", nil, nil, 4096},
		{"file", []string{"--config", file}, nil, 500},
		{"environment", nil, map[string]string{"SWITCHBOARD_TURN_MAX_ALLOCATIONS_PER_ACCOUNT": "7"}, 7},
		{"flag over the file", []string{"--config", file, "--turn-max-allocations-per-account", "0"}, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load("test", Source{Args: tc.args, Env: env(tc.env)})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Turn.MaxAllocationsPerAccount != tc.want {
				t.Fatalf("got %d, want %d", cfg.Turn.MaxAllocationsPerAccount, tc.want)
			}
		})
	}
	_, err := Load("test", Source{Args: []string{"--turn-max-allocations-per-account", "-1"}, Env: env(nil)})
	if err == nil || !strings.Contains(err.Error(), "turn.max_allocations_per_account") {
		t.Fatalf("negative cap: %v, want an error naming turn.max_allocations_per_account", err)
	}
}
