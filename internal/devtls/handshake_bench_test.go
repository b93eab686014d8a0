package devtls

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
)

// BenchmarkHandshake measures one full TLS 1.3 handshake, client and
// server sides together over an in-memory pipe, with the development
// certificate (ECDSA P-256) and no session resumption: the CPU a connect
// costs the server and a load generator on one machine, without the
// network. The sub-benchmarks name the client's key share: Go's default
// post-quantum hybrid, as browsers send, and X25519 alone, as the KVS C
// SDK with OpenSSL 1.1 does. It serves to compare Go toolchains, for
// example with GOTOOLCHAIN (docs/benchmarks.md).
func BenchmarkHandshake(b *testing.B) {
	bundle, err := Ensure(Options{Dir: filepath.Join(b.TempDir(), "tls")})
	if err != nil {
		b.Fatal(err)
	}
	pool, err := bundle.CertPool()
	if err != nil {
		b.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(bundle.CertFile, bundle.KeyFile)
	if err != nil {
		b.Fatal(err)
	}
	server := &tls.Config{Certificates: []tls.Certificate{cert}, SessionTicketsDisabled: true, MinVersion: tls.VersionTLS13}
	for _, share := range []struct {
		name   string
		curves []tls.CurveID
	}{
		{"X25519MLKEM768", nil},
		{"X25519", []tls.CurveID{tls.X25519}},
	} {
		client := &tls.Config{RootCAs: pool, ServerName: "localhost", CurvePreferences: share.curves, MinVersion: tls.VersionTLS13}
		b.Run(share.name, func(b *testing.B) {
			for b.Loop() {
				pipeHandshake(b, server, client)
			}
		})
	}
}

// pipeHandshake runs one handshake between server and client over
// net.Pipe and fails b if either side fails.
func pipeHandshake(b *testing.B, server, client *tls.Config) {
	sc, cc := net.Pipe()
	defer sc.Close()
	defer cc.Close()
	done := make(chan error, 1)
	go func() { done <- tls.Server(sc, server).Handshake() }()
	if err := tls.Client(cc, client).Handshake(); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
