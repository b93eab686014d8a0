package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// peerProcess is a `switchboard master` or `switchboard viewer` process.
type peerProcess struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdout *lineBuffer
	stderr *lockedBuffer
	exited chan struct{}
	code   int
}

// lineBuffer collects a process's output lines.
type lineBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *lineBuffer) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
}

func (b *lineBuffer) snapshot() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines...)
}

func (b *lineBuffer) String() string { return strings.Join(b.snapshot(), "\n") }

// peerEnv is the environment of a peer command: the AWS CLI's variables
// pointing at srv, and a home directory without AWS files.
func (s *server) peerEnv(t *testing.T) []string {
	env := []string{"HOME=" + t.TempDir()}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(env,
		"AWS_ACCESS_KEY_ID="+testAccessKey,
		"AWS_SECRET_ACCESS_KEY="+testSecret,
		"AWS_REGION="+testRegion,
		"AWS_ENDPOINT_URL="+s.Endpoint,
		"AWS_CA_BUNDLE="+s.CAFile)
}

// startPeer runs `switchboard <role> args...` with env; it is killed at
// the end of the test if still running.
func startPeer(t *testing.T, name string, env []string, role string, args ...string) *peerProcess {
	t.Helper()
	p, _ := startPeerCmd(t, name, env, false, role, args...)
	return p
}

// startPeerWithStdin is startPeer with a pipe on the command's stdin,
// which the caller writes; it is closed when the process exits.
func startPeerWithStdin(t *testing.T, name string, env []string, role string, args ...string) (*peerProcess, io.WriteCloser) {
	t.Helper()
	return startPeerCmd(t, name, env, true, role, args...)
}

func startPeerCmd(t *testing.T, name string, env []string, withStdin bool, role string, args ...string) (*peerProcess, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{role}, args...)...)
	cmd.Env = env
	p := &peerProcess{t: t, name: name, cmd: cmd, stdout: &lineBuffer{}, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	var stdin io.WriteCloser
	if withStdin {
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.stdout.add(sc.Text())
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		<-scanned
		err := cmd.Wait()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			p.code = exit.ExitCode()
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", name, p.stdout, name, p.stderr)
		}
	})
	return p, stdin
}

// wait waits for the process to exit and returns its status.
func (p *peerProcess) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v", p.name, timeout)
		return -1
	}
}

// interrupt sends SIGINT, as Ctrl-C does, and returns the exit status.
func (p *peerProcess) interrupt() int {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	return p.wait(20 * time.Second)
}

// kill ends the process with SIGKILL, as a crash would.
func (p *peerProcess) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// waitLine waits for an output line containing want.
func (p *peerProcess) waitLine(timeout time.Duration, want string) string {
	p.t.Helper()
	var found string
	waitFor(p.t, timeout, p.name+" to print "+want, func() bool {
		for _, line := range p.stdout.snapshot() {
			if strings.Contains(line, want) {
				found = line
				return true
			}
		}
		return false
	})
	return found
}

// jsonEvents returns the JSON lines of one event kind.
func (p *peerProcess) jsonEvents(event string) []map[string]any {
	var out []map[string]any
	for _, line := range p.stdout.snapshot() {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["event"] == event {
			out = append(out, m)
		}
	}
	return out
}

// lastStats returns the latest viewer statistics printed with --json.
func (p *peerProcess) lastStats() map[string]any {
	all := p.jsonEvents("stats")
	if len(all) == 0 {
		return map[string]any{}
	}
	return all[len(all)-1]
}

// number reads a JSON number of a stats object (0 when absent).
func number(m map[string]any, key string) float64 {
	f, _ := m[key].(float64)
	return f
}
