package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// peerArgs are the arguments of a peer command that needs no network to
// fail: credentials are given, the endpoint refuses connections, and the
// shared AWS files are kept out of reach.
func peerArgs(t *testing.T, command string, extra ...string) []string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CA_BUNDLE", "")
	args := []string{command, "--channel", "c", "--endpoint-url", "https://127.0.0.1:1", "--region", "us-east-1",
		"--access-key-id", "AKID", "--secret-access-key", "SECRET"}
	return append(args, extra...)
}

// runPeer runs the command and returns its exit status and stderr.
func runPeer(args []string) (int, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stderr.String()
}

// A non-positive --stats-interval used to reach time.NewTicker, which
// panics, in a goroutine started after the peer joined.
func TestPeerCommandsRefuseNonPositiveStatsInterval(t *testing.T) {
	for _, command := range []string{"master", "viewer"} {
		for value, shown := range map[string]string{"0": "0s", "0s": "0s", "-1s": "-1s", "-5ms": "-5ms"} {
			code, stderr := runPeer(peerArgs(t, command, "--stats-interval", value))
			want := "switchboard " + command + ": --stats-interval must be positive, got " + shown + "\n"
			if code != exitUsage || stderr != want {
				t.Errorf("%s --stats-interval %s: exit %d, stderr %q; want exit %d, %q", command, value, code, stderr, exitUsage, want)
			}
		}
	}
}

func TestMasterRefusesFPSOutOfRange(t *testing.T) {
	for value, shown := range map[string]string{
		"Inf": "+Inf", "-Inf": "-Inf", "NaN": "NaN", "0": "0", "-30": "-30", "1000.5": "1000.5", "1e9": "1e+09",
	} {
		code, stderr := runPeer(peerArgs(t, "master", "--fps", value))
		want := "switchboard master: --fps must be above 0 and at most 1000, got " + shown + "\n"
		if code != exitUsage || stderr != want {
			t.Errorf("--fps %s: exit %d, stderr %q; want exit %d, %q", value, code, stderr, exitUsage, want)
		}
	}
}

func TestMasterRefusesMaxViewersBelowOne(t *testing.T) {
	for _, value := range []string{"0", "-3"} {
		code, stderr := runPeer(peerArgs(t, "master", "--max-viewers", value))
		want := "switchboard master: --max-viewers must be at least 1, got " + value + "\n"
		if code != exitUsage || stderr != want {
			t.Errorf("--max-viewers %s: exit %d, stderr %q; want exit %d, %q", value, code, stderr, exitUsage, want)
		}
	}
}

// Values in range pass the flag checks: the commands go on to the next
// step, here a CA bundle that does not exist, which fails before any
// connection is made.
func TestPeerCommandsAcceptTimingFlagsInRange(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing-ca.pem")
	tests := [][]string{
		{"master", "--fps", "1000", "--stats-interval", "1ms"},
		{"master", "--fps", "0.5", "--stats-interval", "1h"},
		{"master", "--fps", "1e-300"},
		{"master", "--max-viewers", "1"},
		{"master", "--max-viewers", "500"},
		{"viewer", "--stats-interval", "1ns"},
	}
	for _, tc := range tests {
		args := peerArgs(t, tc[0], append(tc[1:], "--ca-bundle", missing)...)
		code, stderr := runPeer(args)
		if code != exitUsage || !strings.Contains(stderr, "missing-ca.pem") {
			t.Errorf("%v: exit %d, stderr %q; want the CA bundle refused", tc, code, stderr)
		}
	}
}
