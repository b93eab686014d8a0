package devtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"
)

func TestHandshake(t *testing.T) {
	b := mustEnsure(t, Options{Dir: newDir(t)})
	pool, err := b.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	otherPool, err := mustEnsure(t, Options{Dir: newDir(t)}).CertPool()
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReloader(b.CertFile, b.KeyFile, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// The listener configuration the integrator uses: HTTP/2 offered,
	// HTTP/1.1 kept for the KVS C SDK and WebSocket upgrades.
	server := &tls.Config{GetCertificate: r.GetCertificate, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}

	tests := []struct {
		name       string
		listen     string
		serverName string
		roots      *x509.CertPool
		maxVersion uint16
		protos     []string
		wantProto  string
		wantErr    func(error) bool
	}{
		{name: "localhost over IPv4", listen: "127.0.0.1:0", serverName: "localhost", roots: pool, protos: []string{"h2", "http/1.1"}, wantProto: "h2"},
		{name: "127.0.0.1 literal", listen: "127.0.0.1:0", serverName: "127.0.0.1", roots: pool},
		{name: "::1 literal", listen: "[::1]:0", serverName: "::1", roots: pool},
		{name: "localhost over IPv6", listen: "[::1]:0", serverName: "localhost", roots: pool},
		{name: "HTTP/1.1 only client (KVS C SDK)", listen: "127.0.0.1:0", serverName: "localhost", roots: pool, protos: []string{"http/1.1"}, wantProto: "http/1.1"},
		{name: "TLS 1.2 client", listen: "127.0.0.1:0", serverName: "localhost", roots: pool, maxVersion: tls.VersionTLS12, protos: []string{"http/1.1"}, wantProto: "http/1.1"},
		{name: "pool without the CA", listen: "127.0.0.1:0", serverName: "localhost", roots: otherPool, wantErr: isUnknownAuthority},
		{name: "empty pool", listen: "127.0.0.1:0", serverName: "localhost", roots: x509.NewCertPool(), wantErr: isUnknownAuthority},
		{name: "name not covered", listen: "127.0.0.1:0", serverName: "example.com", roots: pool, wantErr: isHostnameError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := &tls.Config{RootCAs: tt.roots, ServerName: tt.serverName, NextProtos: tt.protos, MaxVersion: tt.maxVersion}
			state, err := handshake(t, tt.listen, server, client)
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("handshake error %v, want a verification failure", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if state.NegotiatedProtocol != tt.wantProto {
				t.Errorf("ALPN %q, want %q", state.NegotiatedProtocol, tt.wantProto)
			}
		})
	}
}

func isUnknownAuthority(err error) bool {
	var e x509.UnknownAuthorityError
	return errors.As(err, &e)
}

func isHostnameError(err error) bool {
	var e x509.HostnameError
	return errors.As(err, &e)
}

// handshake runs one TLS handshake over a real loopback connection and
// returns the client's view of it. It skips the test when the address
// family is not available.
func handshake(t *testing.T, listen string, server, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", listen, err)
	}
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second)
	serverDone := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			serverDone <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(deadline)
		serverDone <- tls.Server(conn, server).Handshake()
	}()
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(deadline)
	tc := tls.Client(conn, client)
	err = tc.Handshake()
	state := tc.ConnectionState()
	_ = conn.Close()
	serverErr := <-serverDone
	if err == nil && serverErr != nil {
		t.Errorf("server side: %v", serverErr)
	}
	return state, err
}
