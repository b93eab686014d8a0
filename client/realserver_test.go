package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests that need our server run the real switchboard executable, as
// test/e2e does; it is built once per test binary, only when one of them
// runs, and removed by TestMain.
var serverBuild struct {
	once      sync.Once
	dir, path string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if serverBuild.dir != "" {
		_ = os.RemoveAll(serverBuild.dir)
	}
	os.Exit(code)
}

// switchboardBinary builds the server the first time it is called.
func switchboardBinary(t *testing.T) string {
	t.Helper()
	b := &serverBuild
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "switchboard-client-test-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "switchboard")
		build := exec.Command("go", "build", "-o", b.path, "github.com/switchboard-rtc/switchboard/cmd/switchboard")
		if out, err := build.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building switchboard: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// serverOutput collects what the server prints and hands over the
// address of its listener from the banner.
type serverOutput struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string // receives the address once
	sent bool
}

var listeningLine = regexp.MustCompile(`listening on ([0-9.:\[\]a-f]+)\)`)

func (o *serverOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if m := listeningLine.FindSubmatch(o.buf.Bytes()); m != nil && !o.sent {
		o.sent = true
		o.addr <- string(m[1])
	}
	return len(p), nil
}

func (o *serverOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// startSwitchboard runs the server on loopback ports, with its own data
// directory and the test keys, until the test ends, and returns a Client
// for it. The limits below only keep a broken run from hanging.
func startSwitchboard(t *testing.T) *Client {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(switchboardBinary(t), "serve", "--data-dir", dir, "--addr", "127.0.0.1:0",
		"--region", "us-west-2", "--account-id", "111122223333", "--turn-udp-addr=127.0.0.1:0",
		"--turn-tcp-addr=127.0.0.1:0", "--turn-tls-addr=127.0.0.1:0", "--relay-ip=127.0.0.1")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_ACCESS_KEY_ID="+testKey, "SWITCHBOARD_SECRET_ACCESS_KEY="+testSecret,
		"SWITCHBOARD_LOG_LEVEL=debug")
	out := &serverOutput{addr: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting switchboard: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { stopServer(t, cmd, exited, out) })
	var addr string
	select {
	case addr = <-out.addr:
	case <-exited:
		t.Fatalf("switchboard exited before serving:\n%s", out)
	case <-time.After(60 * time.Second):
		t.Fatalf("switchboard printed no address:\n%s", out)
	}
	tlsConfig := trustCA(t, filepath.Join(dir, "tls", "ca.pem"))
	endpoint := "https://" + addr
	waitReady(t, endpoint, tlsConfig, out)
	kvs, err := New(Config{Endpoint: endpoint, Region: "us-west-2", Credentials: testCreds, TLSConfig: tlsConfig})
	if err != nil {
		t.Fatal(err)
	}
	return kvs
}

// stopServer ends the server with SIGTERM and shows its output when the
// test failed.
func stopServer(t *testing.T, cmd *exec.Cmd, exited <-chan struct{}, out *serverOutput) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Error("switchboard did not stop within 30s of SIGTERM")
	}
	if t.Failed() {
		t.Logf("switchboard output:\n%s", out)
	}
}

// trustCA returns a TLS configuration that trusts the CA in file.
func trustCA(t *testing.T, file string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// waitReady polls /readyz until the server answers 200.
func waitReady(t *testing.T, endpoint string, tlsConfig *tls.Config, out *serverOutput) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer hc.CloseIdleConnections()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := hc.Get(endpoint + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatalf("switchboard never became ready:\n%s", out)
}

// runPeer runs a peer's Run until the returned function or the end of
// the test stops it; Run must then return nil.
func runPeer(t *testing.T, name string, run func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: Run: %v", name, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("%s: Run did not return within 30s of its end", name)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
