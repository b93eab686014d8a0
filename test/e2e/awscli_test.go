package e2e

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAWSCLIExampleFromBanner starts the server with no configuration at
// all, takes the AWS CLI command its banner prints, and runs it as a person
// would paste it. The AWS CLI is a client no one here wrote; scripts/test.sh
// installs it (Debian package awscli) when it is missing.
func TestAWSCLIExampleFromBanner(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Fatalf("the AWS CLI is not installed (scripts/test.sh installs the Debian package awscli): %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(binary, append([]string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0"}, loopbackTURN...)...)
	cmd.Env = withoutSwitchboardEnv()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "msg=serving") {
		if time.Now().After(deadline) {
			t.Fatalf("no banner:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	example := bannerExample(t, out.String())

	reply := runShell(t, example)
	if !strings.Contains(reply, `"ChannelARN": "arn:aws:kinesisvideo:us-east-1:000000000000:channel/demo/`) {
		t.Fatalf("the banner's example printed:\n%s", reply)
	}
	// The same environment serves the other commands a person tries next.
	env := example[:strings.Index(example, "aws kinesisvideo")]
	endpoint := example[strings.Index(example, "--endpoint-url"):]
	described := runShell(t, env+"aws kinesisvideo describe-signaling-channel --channel-name demo "+endpoint)
	if !strings.Contains(described, `"ChannelStatus": "ACTIVE"`) || !strings.Contains(described, `"MessageTtlSeconds": 60`) {
		t.Fatalf("describe printed:\n%s", described)
	}
	missing := exec.Command("bash", "-c", env+"aws kinesisvideo describe-signaling-channel --channel-name absent "+endpoint)
	missing.Env = cliEnv()
	text, err := missing.CombinedOutput()
	if err == nil || !strings.Contains(string(text), "(ResourceNotFoundException)") {
		t.Fatalf("describe of a missing channel: %v\n%s", err, text)
	}
}

// bannerExample joins the banner's two-line "Try it" command.
func bannerExample(t *testing.T, banner string) string {
	t.Helper()
	_, after, ok := strings.Cut(banner, "Try it:\n")
	if !ok {
		t.Fatalf("banner has no example:\n%s", banner)
	}
	lines := strings.SplitN(after, "\n", 3)
	if len(lines) < 2 {
		t.Fatalf("example is cut short:\n%s", after)
	}
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(lines[0]), "\\")) + " " + strings.TrimSpace(lines[1])
}

func runShell(t *testing.T, command string) string {
	t.Helper()
	cmd := exec.Command("bash", "-c", command)
	cmd.Env = cliEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
	return string(out)
}

// cliEnv is the environment without AWS settings of the machine, so that
// only what the banner says is used.
func cliEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "SWITCHBOARD_") {
			env = append(env, kv)
		}
	}
	return append(env, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
}
