package icetest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/proxy"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/ice"
	"github.com/switchboard-rtc/switchboard/internal/ice/icetest"
	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/internal/testcert"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

const (
	account = "111122223333"
	arn     = "arn:aws:kinesisvideo:us-west-2:111122223333:channel/relay-test/1700000000000"
	oneMB   = 1 << 20
)

// TestRelayOnlyPeersExchangeOneMegabyte connects two pion/webrtc peers
// that may use relay candidates only, given the ICE servers the Service
// hands out, and moves 1 MB over a data channel: through TURN over UDP,
// TCP, TLS (port 5349) and TLS on the shared HTTPS port.
func TestRelayOnlyPeersExchangeOneMegabyte(t *testing.T) {
	tlsCfg, roots := selfSigned(t)
	tlsCfg.NextProtos = append(tlsCfg.NextProtos, ice.ALPNProtocol)
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := ice.DefaultConfig()
	cfg.UDPAddr, cfg.TCPAddr, cfg.TLSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.RelayIP, cfg.RelayPortMin, cfg.RelayPortMax, cfg.UDPListeners = "127.0.0.1", 0, 0, 2
	cfg.AllowPeers = []string{"127.0.0.0/8"}
	cfg.OnHTTPSPort = true
	reg := prometheus.NewRegistry()
	svc, err := ice.New(cfg, ice.Deps{Secrets: &secrets{}, TLS: tlsCfg, PublicHost: raw.Addr().String(),
		Logger: slog.New(slog.DiscardHandler), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	runService(t, svc)
	httpSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Proto) })}
	go func() { _ = httpSrv.Serve(svc.SplitTURN(tls.NewListener(raw, tlsCfg))) }()
	t.Cleanup(func() { _ = httpSrv.Close() })

	offerer := iceServers(t, svc, "master")
	answerer := iceServers(t, svc, "viewer")
	httpsPort := raw.Addr().(*net.TCPAddr).Port
	cases := []struct {
		name      string
		transport string // the listener the allocations must be made on
		pick      func(uri string) bool
		dialer    proxy.Dialer
	}{
		{"udp", "udp", func(u string) bool { return strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "transport=udp") }, nil},
		{"tcp", "tcp", func(u string) bool { return strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "transport=tcp") }, nil},
		{"tls", "tls", func(u string) bool {
			return strings.HasPrefix(u, "turns:") && !strings.Contains(u, ":"+itoa(httpsPort)+"?")
		}, icetest.TLSDialer(roots)},
		{"https port", "https", func(u string) bool {
			return strings.HasPrefix(u, "turns:") && strings.Contains(u, ":"+itoa(httpsPort)+"?")
		}, icetest.TLSDialer(roots)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			res, err := icetest.RelayExchange(ctx,
				icetest.Peer{ICEServers: only(t, offerer, tc.pick), Dialer: tc.dialer},
				icetest.Peer{ICEServers: only(t, answerer, tc.pick), Dialer: tc.dialer},
				oneMB, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n := allocations(t, reg, tc.transport); n != 2 {
				t.Fatalf("%v allocations on the %s listener, want one per peer", n, tc.transport)
			}
			t.Logf("%d bytes in %s via %s:%d", res.Bytes, res.Elapsed.Round(time.Millisecond), res.OffererCandidate.Address, res.OffererCandidate.Port)
		})
	}
	// HTTP still works on the shared port, HTTP/2 included.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	resp, err := client.Get("https://" + raw.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "HTTP/2.0" {
		t.Fatalf("HTTP on the shared port answered %q", body)
	}
}

// allocations reads switchboard_turn_allocations_total for a client
// transport.
func allocations(t *testing.T, reg *prometheus.Registry, transport string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "switchboard_turn_allocations_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "transport" && l.GetValue() == transport {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// iceServers calls the provider as GetIceServerConfig would.
func iceServers(t *testing.T, svc *ice.Service, clientID string) []kvsapi.IceServer {
	t.Helper()
	servers, err := svc.IceServers(context.Background(), auth.Principal{Account: account},
		store.Channel{Account: account, ARN: arn, Status: kvsapi.ChannelStatusActive}, clientID)
	if err != nil {
		t.Fatal(err)
	}
	return servers
}

// only keeps the one URI pick selects, as a pion ICE server.
func only(t *testing.T, servers []kvsapi.IceServer, pick func(string) bool) []webrtc.ICEServer {
	t.Helper()
	for _, s := range servers {
		for _, u := range s.Uris {
			if pick(u) {
				return []webrtc.ICEServer{{URLs: []string{u}, Username: s.Username, Credential: s.Password}}
			}
		}
	}
	t.Fatalf("no URI selected among %+v", servers)
	return nil
}

func runService(t *testing.T, svc *ice.Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	select {
	case <-svc.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// secrets is an in-memory ice.SecretStore: one secret per name, made by
// the first caller's generate.
type secrets struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *secrets) Secret(_ context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[name]; ok {
		return v, nil
	}
	v, err := generate()
	if err != nil {
		return nil, err
	}
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[name] = v
	return v, nil
}

func (s *secrets) DeleteSecret(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, name)
	return nil
}

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	cert, pool := testcert.Must(t)
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}, pool
}

func itoa(n int) string { return strconv.Itoa(n) }
