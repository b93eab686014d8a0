package icetest

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

// TURNClient starts a pion TURN client on server over network ("udp",
// "tcp" or "tls"; tlsCfg is used for "tls" only) from 127.0.0.1, and
// closes it with the test. logs may be nil for pion's default logger.
func TURNClient(t testing.TB, network, server string, tlsCfg *tls.Config, user, pass string, logs logging.LoggerFactory) *turn.Client {
	t.Helper()
	conn := clientConn(t, network, server, tlsCfg)
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server, TURNServerAddr: server,
		Conn: conn, Username: user, Password: pass, LoggerFactory: logs,
	})
	if err != nil {
		_ = conn.Close()
		t.Fatal(err)
	}
	if err := client.Listen(); err != nil {
		client.Close()
		_ = conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		_ = conn.Close()
	})
	return client
}

// clientConn is the socket a TURN client talks over: a UDP socket, or a
// TCP or TLS connection framed for STUN.
func clientConn(t testing.TB, network, server string, tlsCfg *tls.Config) net.PacketConn {
	t.Helper()
	var (
		c   net.Conn
		err error
	)
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return pc
	case "tcp":
		c, err = net.Dial("tcp", server)
	case "tls":
		c, err = tls.Dial("tcp", server, tlsCfg)
	default:
		t.Fatalf("icetest: unknown TURN client network %q", network)
	}
	if err != nil {
		t.Fatal(err)
	}
	return turn.NewSTUNConn(c)
}
