package ice

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/internal/testcert"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

const (
	testAccount = "111122223333"
	testARN     = "arn:aws:kinesisvideo:us-west-2:111122223333:channel/cam-1/1700000000000"
	otherARN    = "arn:aws:kinesisvideo:us-west-2:111122223333:channel/cam-2/1700000000001"
)

// memSecrets is an in-memory SecretStore.
type memSecrets struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memSecrets) Secret(_ context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	if v, ok := s.m[name]; ok {
		return append([]byte(nil), v...), nil
	}
	v, err := generate()
	if err != nil {
		return nil, err
	}
	s.m[name] = append([]byte(nil), v...)
	return v, nil
}

func (s *memSecrets) DeleteSecret(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, name)
	return nil
}

// fakeClock is a settable clock; it starts at the real time.
type fakeClock struct{ offset atomic.Int64 }

func (c *fakeClock) Now() time.Time           { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *fakeClock) Advance(d time.Duration)  { c.offset.Add(int64(d)) }
func (c *fakeClock) Set(offset time.Duration) { c.offset.Store(int64(offset)) }
func (c *fakeClock) deps(d Deps) Deps         { d.Now = c.Now; return d }
func newFakeClock() *fakeClock                { return &fakeClock{} }
func activeChannel(arn string) store.Channel {
	return store.Channel{Account: testAccount, ARN: arn, Status: kvsapi.ChannelStatusActive}
}
func principal() auth.Principal {
	return auth.Principal{Account: testAccount, AccessKeyID: "AKIDEXAMPLE"}
}
func loopbackAllowed(c *Config) { c.AllowPeers = []string{"127.0.0.0/8", "::1/128"} }
func withCredentialTTL(d time.Duration) func(*Config) {
	return func(c *Config) { c.CredentialTTL = Duration(d) }
}

// testCert returns the server configuration for a test certificate and a
// pool trusting it.
func testCert(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	cert, pool := testcert.Must(t)
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}, pool
}

// testConfig is an embedded relay on loopback with system-chosen ports.
func testConfig(mutators ...func(*Config)) Config {
	cfg := DefaultConfig()
	cfg.UDPAddr, cfg.TCPAddr, cfg.TLSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.RelayIP = "127.0.0.1"
	cfg.RelayPortMin, cfg.RelayPortMax = 0, 0
	cfg.UDPListeners = 2
	for _, m := range mutators {
		m(&cfg)
	}
	return cfg
}

// testLogger logs to the test at Debug when ICE_TEST_LOG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("ICE_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// harness is a running Service with its registry and clock.
type harness struct {
	svc   *Service
	reg   *prometheus.Registry
	clock *fakeClock
	pool  *x509.CertPool
	tls   *tls.Config
}

// startService runs a Service until the test ends and checks that Run
// returns and leaves no goroutine behind.
// Options are func(*Deps) or func(*Service) (applied before Run).
func startService(t testing.TB, cfg Config, options ...any) *harness {
	t.Helper()
	tlsCfg, pool := testCert(t)
	h := &harness{reg: prometheus.NewRegistry(), clock: newFakeClock(), pool: pool, tls: tlsCfg}
	deps := Deps{Secrets: &memSecrets{}, TLS: tlsCfg, PublicHost: "127.0.0.1:8443", Logger: testLogger(t), Registerer: h.reg, Now: h.clock.Now}
	for _, o := range options {
		if f, ok := o.(func(*Deps)); ok {
			f(&deps)
		}
	}
	svc, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range options {
		if f, ok := o.(func(*Service)); ok {
			f(svc)
		}
	}
	h.svc = svc
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	select {
	case <-svc.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("service not ready within 10s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return within 15s of cancel")
		}
		waitFor(t, 10*time.Second, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	})
	return h
}

// credentials mints a credential through IceServers.
func (h *harness) credentials(t testing.TB, arn, clientID string) (string, string) {
	t.Helper()
	servers, err := h.svc.IceServers(context.Background(), principal(), activeChannel(arn), clientID)
	if err != nil {
		t.Fatal(err)
	}
	return servers[0].Username, servers[0].Password
}

func (h *harness) counter(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			if m.Counter != nil {
				total += m.GetCounter().GetValue()
			}
			if m.Gauge != nil {
				total += m.GetGauge().GetValue()
			}
		}
	}
	return total
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// udpPeer is a loopback UDP peer that echoes what it receives and counts
// bytes.
type udpPeer struct {
	conn     *net.UDPConn
	received atomic.Int64
}

func newUDPPeer(t testing.TB, echo bool) *udpPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &udpPeer{conn: conn}
	t.Cleanup(func() { _ = conn.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.received.Add(int64(n))
			if echo {
				_, _ = conn.WriteToUDP(buf[:n], from)
			}
		}
	}()
	return p
}

func (p *udpPeer) addr() *net.UDPAddr { return p.conn.LocalAddr().(*net.UDPAddr) }

func isClosedErr(err error) bool { return errors.Is(err, net.ErrClosed) }
