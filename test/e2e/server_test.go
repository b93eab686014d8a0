package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/testbin"
)

// binary is the switchboard executable built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	testbin.Main(m, "../../cmd/switchboard", raceEnabled, &binary)
}

// Test credentials of the root account.
const (
	testRegion    = "us-west-2"
	testAccount   = "111122223333"
	testAccessKey = "AKIAIOSFODNN7EXAMPLE"
	testSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// loopbackTURN keeps every test server's STUN/TURN listeners on loopback,
// on ports of the system's choosing, so that servers never collide and
// nothing listens beyond this machine.
var loopbackTURN = []string{"--turn-udp-addr=127.0.0.1:0", "--turn-tcp-addr=127.0.0.1:0", "--turn-tls-addr=127.0.0.1:0", "--relay-ip=127.0.0.1"}

// noRateLimits switches the control plane's call-rate limits off, for the
// tests that call one channel or one operation faster than AWS allows
// (the limits have tests of their own, in quotas_test.go).
const noRateLimits = "--control-plane-rate-limits=false"

// server is one running switchboard process.
type server struct {
	t       *testing.T
	dataDir string
	args    []string
	env     []string
	cmd     *exec.Cmd
	// Endpoint is the https:// URL of the control plane.
	Endpoint string
	// Addr is host:port of the listener.
	Addr   string
	CAFile string
	output *lockedBuffer
	exited chan struct{}
}

type serverOptions struct {
	dataDir string   // reuse a data directory (restart tests)
	args    []string // extra flags
	env     []string // extra environment
}

// startServer starts switchboard on a free port and waits until /readyz
// answers 200. The process is stopped when the test ends.
func startServer(t *testing.T, opts serverOptions) *server {
	t.Helper()
	dir := opts.dataDir
	if dir == "" {
		dir = t.TempDir()
	}
	s := &server{t: t, dataDir: dir, args: opts.args, env: opts.env}
	s.start()
	t.Cleanup(s.stop)
	return s
}

var listeningLine = regexp.MustCompile(`listening on ([0-9.:\[\]a-f]+)\)`)

func (s *server) start() {
	t := s.t
	t.Helper()
	args := append([]string{"serve", "--data-dir", s.dataDir, "--addr", "127.0.0.1:0",
		"--region", testRegion, "--account-id", testAccount}, loopbackTURN...)
	args = append(args, s.args...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(),
		"SWITCHBOARD_ACCESS_KEY_ID="+testAccessKey,
		"SWITCHBOARD_SECRET_ACCESS_KEY="+testSecret,
		"SWITCHBOARD_LOG_LEVEL=debug")
	cmd.Env = append(cmd.Env, s.env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.output = &lockedBuffer{}
	cmd.Stderr = s.output
	if err := cmd.Start(); err != nil {
		t.Fatalf("start switchboard: %v", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	addrc := make(chan string, 1)
	go s.scanBanner(stdout, addrc)
	go func() { _ = cmd.Wait(); close(s.exited) }()
	select {
	case s.Addr = <-addrc:
	case <-s.exited:
		t.Fatalf("switchboard exited before serving:\n%s", s.output.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("switchboard did not print its address within 60s:\n%s", s.output.String())
	}
	s.Endpoint = "https://" + s.Addr
	s.CAFile = filepath.Join(s.dataDir, "tls", "ca.pem")
	s.waitReady()
}

func (s *server) scanBanner(r io.Reader, addrc chan<- string) {
	sc := bufio.NewScanner(r)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		s.output.Write([]byte(line + "\n"))
		if m := listeningLine.FindStringSubmatch(line); m != nil && !sent {
			addrc <- m[1]
			sent = true
		}
	}
}

func (s *server) waitReady() {
	s.t.Helper()
	client := s.HTTPClient()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(s.Endpoint + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("switchboard never became ready:\n%s", s.output.String())
}

// HTTPClient trusts the server's development CA.
func (s *server) HTTPClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: s.TLSConfig()}}
}

// TLSConfig trusts the server's development CA.
func (s *server) TLSConfig() *tls.Config {
	s.t.Helper()
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		s.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		s.t.Fatalf("no certificate in %s", s.CAFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// kill ends the process with SIGKILL, as a crash would.
func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// stop ends the process with SIGTERM and waits for a graceful exit.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("switchboard did not stop within 30s of SIGTERM")
	}
	if s.t.Failed() {
		s.t.Logf("switchboard output:\n%s", s.output.String())
	}
}

// restart starts a new process on the same data directory.
func (s *server) restart() {
	s.start()
}

// Output returns what the process has printed so far.
func (s *server) Output() string { return s.output.String() }

type lockedBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}

// ctx returns a context bounded by the test's deadline or 60 seconds.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
