package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
)

// TestZeroConfigStart runs `switchboard serve` with no credentials: it must
// generate a key pair once (mode 0600), print it with a working AWS CLI
// example and the CA to trust, and reuse both on the next start.
func TestZeroConfigStart(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binary, append([]string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0"}, loopbackTURN...)...)
	cmd.Env = withoutSwitchboardEnv()
	first := runUntilBanner(t, cmd)
	keyID, secret := bannerKeys(t, first)
	info, err := os.Stat(filepath.Join(dir, "credentials.json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, mode %v", err, info.Mode())
	}
	for _, want := range []string{"aws kinesisvideo create-signaling-channel", "--endpoint-url https://127.0.0.1:", "AWS_CA_BUNDLE=" + filepath.Join(dir, "tls", "ca.pem"), "--region us-east-1", "account: 000000000000", "console: https://127.0.0.1:", "export AWS_ENDPOINT_URL=https://127.0.0.1:"} {
		if !strings.Contains(first, want) {
			t.Fatalf("banner lacks %q:\n%s", want, first)
		}
	}
	var stored struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	data, _ := os.ReadFile(filepath.Join(dir, "credentials.json"))
	if err := json.Unmarshal(data, &stored); err != nil || stored.AccessKeyID != keyID || stored.SecretAccessKey != secret {
		t.Fatalf("stored keys %+v differ from printed %s/%s (%v)", stored, keyID, secret, err)
	}
	caBefore, _ := os.ReadFile(filepath.Join(dir, "tls", "ca.pem"))

	cmd = exec.Command(binary, append([]string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0"}, loopbackTURN...)...)
	cmd.Env = withoutSwitchboardEnv()
	second := runUntilBanner(t, cmd)
	if k, s := bannerKeys(t, second); k != keyID || s != secret {
		t.Fatalf("second start printed other keys %s/%s", k, s)
	}
	if caAfter, _ := os.ReadFile(filepath.Join(dir, "tls", "ca.pem")); !bytes.Equal(caBefore, caAfter) || len(caAfter) == 0 {
		t.Fatal("the development CA changed between starts")
	}
}

func withoutSwitchboardEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHBOARD_") {
			env = append(env, kv)
		}
	}
	return env
}

// runUntilBanner starts cmd, waits for its banner, then stops it with
// SIGTERM and checks that it exits cleanly. It returns the banner text.
func runUntilBanner(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "level=INFO msg=serving") {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no banner within 60s:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("no exit within 30s of SIGTERM:\n%s", out.String())
	}
	return out.String()
}

var bannerKeyLine = regexp.MustCompile(`access key id:\s+(\S+)\n\s+secret access key: (\S+)`)

func bannerKeys(t *testing.T, banner string) (string, string) {
	t.Helper()
	m := bannerKeyLine.FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("banner has no credentials:\n%s", banner)
	}
	return m[1], m[2]
}

// TestGracefulShutdownKeepsData stops the server with SIGTERM and checks it
// exits with status 0 and keeps what it acknowledged.
func TestGracefulShutdownKeepsData(t *testing.T) {
	srv := startServer(t, serverOptions{})
	arn := createChannel(t, srv.kvs(), "kept")
	srv.stop()
	if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status after SIGTERM = %d, want 0\n%s", code, srv.Output())
	}
	srv.restart()
	out, err := srv.kvs().DescribeSignalingChannel(testContext(t), &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String("kept")})
	if err != nil || aws.ToString(out.ChannelInfo.ChannelARN) != arn {
		t.Fatalf("after restart: %v", err)
	}
}

// TestCheckConfigReportsEveryProblem gives check-config a file with several
// mistakes and an unknown key, and expects every one of them in one run.
func TestCheckConfigReportsEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	bad := "server:\n  region: Mars\n  account_id: \"12\"\nlog:\n  level: loud\nchannels:\n  max_per_account: -1\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "check-config", "--config", path, "--addr", "no-port")
	cmd.Env = withoutSwitchboardEnv()
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 2 {
		t.Fatalf("check-config: %v, want exit status 2\n%s", err, out)
	}
	for _, key := range []string{"server.region", "server.account_id", "log.level", "channels.max_per_account", "server.addr"} {
		if !strings.Contains(string(out), key) {
			t.Fatalf("output does not name %s:\n%s", key, out)
		}
	}
	if !strings.Contains(string(out), "has 5 problem(s)") {
		t.Fatalf("want 5 problems counted:\n%s", out)
	}

	unknown := filepath.Join(t.TempDir(), "unknown.yaml")
	_ = os.WriteFile(unknown, []byte("server:\n  adress: \":1\"\n"), 0o600)
	out, err = exec.Command(binary, "check-config", "--config", unknown).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "adress") || !strings.Contains(string(out), "has 1 problem(s)") {
		t.Fatalf("unknown key: %v, want one problem naming it\n%s", err, out)
	}

	good := exec.Command(binary, "check-config", "--region", "eu-west-1")
	good.Env = withoutSwitchboardEnv()
	out, err = good.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "region: eu-west-1") {
		t.Fatalf("valid configuration refused: %v\n%s", err, out)
	}
}

// TestConfiguredSecretIsNotPrinted: a secret the operator configured
// never appears on standard output, which often ends up in collected
// logs; the key id does, so that the banner still says which key to use.
func TestConfiguredSecretIsNotPrinted(t *testing.T) {
	const secret = "operator-secret-0123456789abcdefghijklmnop"
	cmd := exec.Command(binary, append([]string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0"}, loopbackTURN...)...)
	cmd.Env = append(withoutSwitchboardEnv(), "SWITCHBOARD_ACCESS_KEY_ID=SBAKOPERATOR0000001", "SWITCHBOARD_SECRET_ACCESS_KEY="+secret)
	banner := runUntilBanner(t, cmd)
	if strings.Contains(banner, secret) {
		t.Fatalf("the banner prints the configured secret:\n%s", banner)
	}
	if !strings.Contains(banner, "SBAKOPERATOR0000001") || !strings.Contains(banner, "not printed") {
		t.Fatalf("the banner does not name the key and say the secret is withheld:\n%s", banner)
	}
}

// TestBadCredentialsFileIsNamed: a credentials.json in the data directory
// that is not what the server writes (emptied, edited by hand, cut short)
// stops `switchboard serve` with exit status 1 and a message that names
// the file and what is wrong in it, and the file is left as it was: the
// server must neither guess new keys over it nor point at a setting the
// operator never gave.
func TestBadCredentialsFileIsNamed(t *testing.T) {
	for name, tc := range map[string]struct{ content, want string }{
		"empty object": {`{}`, "access key id"},
		"short key id": {`{"access_key_id": "SBAK1", "secret_access_key": "0123456789abcdefghij"}`, "access key id"},
		"short secret": {`{"access_key_id": "SBAKABCDEFGHIJKLMNOP", "secret_access_key": "short"}`, "secret access key"},
		"not JSON":     {`access_key_id=SBAKABCDEFGHIJKLMNOP`, "invalid character"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "credentials.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(binary, append([]string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0"}, loopbackTURN...)...)
			cmd.Env = withoutSwitchboardEnv()
			var stdout, stderr lockedBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
				t.Fatalf("serve: %v, want exit status 1\n%s%s", err, stdout.String(), stderr.String())
			}
			last := stderr.String()[strings.LastIndex(strings.TrimSpace(stderr.String()), "\n")+1:]
			for _, want := range []string{path, tc.want, "delete"} {
				if !strings.Contains(last, want) {
					t.Errorf("the error does not say %q:\n%s", want, last)
				}
			}
			if after, _ := os.ReadFile(path); string(after) != tc.content {
				t.Errorf("credentials.json was changed to %q", after)
			}
			if strings.Contains(stdout.String(), "access key id:") {
				t.Errorf("a banner was printed:\n%s", stdout.String())
			}
		})
	}
}

// TestHelpCommand: "switchboard help COMMAND", what a new user types
// after reading the command list, prints that command's flags, as
// "switchboard COMMAND -h" does, with exit status 0; help for a command
// that does not exist is a usage error.
func TestHelpCommand(t *testing.T) {
	for cmd, want := range map[string]string{
		"serve":        "-data-dir",
		"check-config": "-data-dir",
		"master":       "-video",
		"viewer":       "-output",
		"bench":        "Scenarios:",
	} {
		out, err := exec.Command(binary, "help", cmd).CombinedOutput()
		if err != nil {
			t.Errorf("help %s: %v\n%s", cmd, err, out)
			continue
		}
		if !strings.Contains(string(out), want) {
			t.Errorf("help %s does not show %q:\n%s", cmd, want, out)
		}
	}
	out, err := exec.Command(binary, "help", "serv").CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 2 || !strings.Contains(string(out), `unknown command "serv"`) {
		t.Errorf("help serv: %v, want exit status 2 and the unknown command named\n%s", err, out)
	}
}

// TestUnknownSwitchboardVariableWarns: a SWITCHBOARD_* variable that is no
// setting, here the plural of the file key turn.allow_peers where the flag
// is singular, is named in a warning with the variable meant, by
// check-config (which still accepts the configuration) and by serve (which
// still starts). Known variables are not reported.
func TestUnknownSwitchboardVariableWarns(t *testing.T) {
	env := append(withoutSwitchboardEnv(), "SWITCHBOARD_TURN_ALLOW_PEERS=10.0.0.0/8", "SWITCHBOARD_REGION=eu-west-1")
	want := "SWITCHBOARD_TURN_ALLOW_PEERS is not a setting and is ignored; did you mean SWITCHBOARD_TURN_ALLOW_PEER?"

	cmd := exec.Command(binary, "check-config")
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("check-config: %v, want exit status 0 (a warning, not an error)\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "warning: environment variable "+want) {
		t.Fatalf("check-config does not warn about the unknown variable:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "SWITCHBOARD_REGION") || !strings.Contains(stdout.String(), "region: eu-west-1") {
		t.Fatalf("the known variable was reported or not applied:\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}

	serve := exec.Command(binary, append([]string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0"}, loopbackTURN...)...)
	serve.Env = env
	out := runUntilBanner(t, serve)
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, want) {
		t.Fatalf("serve does not log a warning about the unknown variable:\n%s", out)
	}
}

// TestHelpShowsDefaults: -h of serve and check-config shows each flag's
// built-in default, and none where there is no default value (the
// key is derived or generated). Showing them must not make the flags
// set anything: a variable still wins over the default when no flag is
// given.
func TestHelpShowsDefaults(t *testing.T) {
	for _, command := range []string{"serve", "check-config"} {
		out, err := exec.Command(binary, command, "-h").CombinedOutput()
		if err != nil {
			t.Fatalf("%s -h: %v\n%s", command, err, out)
		}
		usage := flagUsages(string(out))
		for flag, want := range map[string]string{
			"addr":                    "(default :8443)",
			"data-dir":                "(default ./switchboard-data)",
			"region":                  "(default us-east-1)",
			"max-viewers-per-channel": "(default 10)",
			"turn":                    "(default true)",
			"turn-credential-ttl":     "(default 5m0s)",
			"turn-udp-addr":           "(default :3478)",
			"shutdown-timeout":        "(default 30s)",
		} {
			if !strings.HasSuffix(usage[flag], want) {
				t.Errorf("%s -h: --%s reads %q, want it to end with %q", command, flag, usage[flag], want)
			}
		}
		for _, flag := range []string{"tls-key", "secret-access-key", "turn-allow-peer"} {
			if u, ok := usage[flag]; !ok || strings.Contains(u, "(default") {
				t.Errorf("%s -h: --%s reads %q, want no default shown", command, flag, u)
			}
		}
	}

	cmd := exec.Command(binary, "check-config")
	cmd.Env = append(withoutSwitchboardEnv(), "SWITCHBOARD_MAX_VIEWERS_PER_CHANNEL=4", "SWITCHBOARD_ADDR=127.0.0.1:9")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "max_viewers_per_channel: 4") || !strings.Contains(string(out), "addr: 127.0.0.1:9") {
		t.Fatalf("the environment no longer wins over the defaults the help shows: %v\n%s", err, out)
	}
}

// flagUsages reads the help text of the flag package: a line "  -name
// [type]" followed by the usage on the next line. It maps each name to
// its usage.
func flagUsages(help string) map[string]string {
	usages := map[string]string{}
	lines := strings.Split(help, "\n")
	for i, line := range lines {
		fields := strings.Fields(line)
		if !strings.HasPrefix(line, "  -") || len(fields) == 0 || i+1 >= len(lines) {
			continue
		}
		usages[strings.TrimPrefix(fields[0], "-")] = strings.TrimSpace(lines[i+1])
	}
	return usages
}
