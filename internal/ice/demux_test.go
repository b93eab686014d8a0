package ice

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// splitHarness serves HTTP and TURN on one TLS listener.
type splitHarness struct {
	*harness
	addr string
}

// startSplit takes func(*Config) and func(*Service) options, the latter
// applied after its own shortened timeouts.
func startSplit(t *testing.T, options ...any) *splitHarness {
	t.Helper()
	tlsCfg, pool := testCert(t)
	tlsCfg.NextProtos = append(tlsCfg.NextProtos, ALPNProtocol)
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mutators := []func(*Config){loopbackAllowed, func(c *Config) { c.OnHTTPSPort = true }}
	serviceOptions := []any{func(d *Deps) {
		d.TLS, d.PublicHost = tlsCfg, raw.Addr().String()
	}, func(s *Service) { s.handshakeTimeout, s.firstMessageTimeout = time.Second, time.Second }}
	for _, o := range options {
		switch o := o.(type) {
		case func(*Config):
			mutators = append(mutators, o)
		case func(*Service):
			serviceOptions = append(serviceOptions, o)
		default:
			t.Fatalf("startSplit: unknown option %T", o)
		}
	}
	h := startService(t, testConfig(mutators...), serviceOptions...)
	h.pool = pool
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.Proto+" tls="+boolString(r.TLS != nil))
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(h.svc.SplitTURN(tls.NewListener(raw, tlsCfg)))
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
	})
	return &splitHarness{harness: h, addr: raw.Addr().String()}
}

func boolString(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func TestSplitTURNServesBoth(t *testing.T) {
	s := startSplit(t)
	user, pass := s.credentials(t, testARN, "split")

	t.Run("HTTP/2 by ALPN keeps the *tls.Conn", func(t *testing.T) {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.pool}, ForceAttemptHTTP2: true}}
		resp, err := client.Get("https://" + s.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "HTTP/2.0 tls=yes" {
			t.Fatalf("got %q", body)
		}
	})
	t.Run("HTTP/1.1 without ALPN is recognised by its first bytes", func(t *testing.T) {
		conn, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: s.pool})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if !strings.HasPrefix(string(body), "HTTP/1.1") {
			t.Fatalf("got %q", body)
		}
	})
	for _, alpn := range []string{"", ALPNProtocol} {
		t.Run("TURN over TLS, ALPN "+alpn, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: s.pool}
			if alpn != "" {
				cfg.NextProtos = []string{alpn}
			}
			conn, err := tls.Dial("tcp", s.addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := &rawTURN{t: t, conn: conn, stream: true, username: user, password: pass}
			t.Cleanup(func() { _ = conn.Close() })
			peer := newUDPPeer(t, true)
			if _, code := c.allocate(17, false); code != 0 {
				t.Fatalf("allocate: %d", code)
			}
			target := peerAddr{peer.addr().IP, peer.addr().Port, 1}
			if code := c.createPermission(target); code != 0 {
				t.Fatalf("permission: %d", code)
			}
			c.send(target, []byte("via the HTTPS port"))
			if data, err := c.readData(5 * time.Second); err != nil || string(data) != "via the HTTPS port" {
				t.Fatalf("echo %q: %v", data, err)
			}
		})
	}
	if got := s.counter(t, "switchboard_turn_allocations_total", "transport", transportHTTPS); got != 2 {
		t.Fatalf("%v allocations counted on the HTTPS port, want 2", got)
	}
	t.Run("a silent client is dropped", func(t *testing.T) {
		conn, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: s.pool})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Fatal("the server sent data to a client that said nothing")
		}
	})
}

func TestLooksLikeSTUN(t *testing.T) {
	cases := []struct {
		head string
		want bool
	}{
		{"\x00\x03\x00\x08\x21\x12\xa4\x42", true}, // Allocate request
		{"\x00\x01\x00\x00\x21\x12\xa4\x42", true}, // Binding request
		{"GET / HT", false},
		{"POST /v1", false},
		{"PRI * HT", false},
		{"\x40\x00\x00\x04\x21\x12\xa4\x42", false}, // ChannelData never opens a connection
		{"\x00\x03\x00\x08\x00\x00\x00\x00", false},
		{"\x00\x03", false},
	}
	for _, tc := range cases {
		if got := looksLikeSTUN([]byte(tc.head)); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.head, got, tc.want)
		}
	}
}

func TestSplitTURNOffReturnsListener(t *testing.T) {
	svc := newProvider(t, DefaultConfig(), Deps{PublicHost: "h.example"})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if svc.SplitTURN(ln) != ln {
		t.Fatal("wrapped although on_https_port is off")
	}
}
