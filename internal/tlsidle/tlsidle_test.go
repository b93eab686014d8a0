package tlsidle

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/switchboard-rtc/switchboard/internal/testcert"
)

// pair is a TLS connection over loopback TCP: the server end, the
// client end, and the client's TCP socket under its TLS.
type pair struct {
	server, client *tls.Conn
	clientTCP      *holdingConn
}

// newPair handshakes a server and a client with Go's default settings, so
// the ClientHello carries a post-quantum key share, as most clients' do.
func newPair(t *testing.T) pair {
	t.Helper()
	cert, pool := testcert.Must(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	hc := &holdingConn{Conn: raw}
	client := tls.Client(hc, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	sraw, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	server := tls.Server(sraw, &tls.Config{Certificates: []tls.Certificate{cert}})
	t.Cleanup(func() { client.Close(); server.Close() })
	errs := make(chan error, 1)
	go func() { errs <- client.Handshake() }()
	if err := server.Handshake(); err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	return pair{server: server, client: client, clientTCP: hc}
}

// holdingConn can keep back the tail of the next write, to leave a
// record half sent.
type holdingConn struct {
	net.Conn
	mu       sync.Mutex
	keep     int    // bytes of the next write to keep back
	withheld []byte // what was kept back
}

func (h *holdingConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	keep := h.keep
	h.keep = 0
	if keep > 0 && keep < len(p) {
		h.withheld = append([]byte(nil), p[len(p)-keep:]...)
		h.mu.Unlock()
		if _, err := h.Conn.Write(p[:len(p)-keep]); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	h.mu.Unlock()
	return h.Conn.Write(p)
}

func (h *holdingConn) sendWithheld() error {
	h.mu.Lock()
	rest := h.withheld
	h.withheld = nil
	h.mu.Unlock()
	_, err := h.Conn.Write(rest)
	return err
}

// readBuffers calls inspect with c's record and handshake-message
// buffers, under the lock that guards them; it returns -1 when the
// fields were not found.
func readBuffers(c *tls.Conn, inspect func(rawInput, hand *bytes.Buffer) int) int {
	if !found {
		return -1
	}
	base := unsafe.Pointer(c)
	lock := (*sync.Mutex)(unsafe.Add(base, fields.readLock))
	lock.Lock()
	defer lock.Unlock()
	return inspect((*bytes.Buffer)(unsafe.Add(base, fields.rawInput)), (*bytes.Buffer)(unsafe.Add(base, fields.hand)))
}

// heldBytes is the capacity c's read buffers keep, for tests.
func heldBytes(c *tls.Conn) int {
	return readBuffers(c, func(rawInput, hand *bytes.Buffer) int { return rawInput.Cap() + hand.Cap() })
}

// rawBytes is how many received bytes c's record buffer holds.
func rawBytes(c *tls.Conn) int {
	return readBuffers(c, func(rawInput, _ *bytes.Buffer) int { return rawInput.Len() })
}

func readN(t *testing.T, c *tls.Conn, n int) []byte {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return buf
}

func write(t *testing.T, c *tls.Conn, p []byte) {
	t.Helper()
	if _, err := c.Write(p); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func TestThisGoVersionIsSupported(t *testing.T) {
	// When a Go release reshapes tls.Conn, Release silently does nothing
	// and idle connections cost 3.5 KiB more: this test says so first.
	if !Supported() {
		t.Fatal("crypto/tls.Conn no longer has the fields Release works on; update internal/tlsidle for this Go version")
	}
}

func TestReleaseDropsTheHandshakeBuffersAndReadingGoesOn(t *testing.T) {
	p := newPair(t)
	write(t, p.client, []byte("hello"))
	if got := readN(t, p.server, 5); string(got) != "hello" {
		t.Fatalf("read %q", got)
	}
	// The post-quantum ClientHello grew both buffers past 1 KB each.
	if held := heldBytes(p.server); held < 2048 {
		t.Fatalf("buffers hold %d bytes after the handshake; expected the ClientHello to have grown them", held)
	}
	if !Release(p.server) {
		t.Fatal("Release refused an idle connection")
	}
	if held := heldBytes(p.server); held != 0 {
		t.Fatalf("buffers hold %d bytes after Release", held)
	}

	// Both directions still work, with records large and small.
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB: several full records
	go func() { _, _ = p.client.Write(big) }()
	if got := readN(t, p.server, len(big)); !bytes.Equal(got, big) {
		t.Fatal("a 64 KiB message read after Release differs from what was sent")
	}
	write(t, p.server, []byte("pong"))
	if got := readN(t, p.client, 4); string(got) != "pong" {
		t.Fatalf("client read %q", got)
	}
	if !Release(p.server) {
		t.Fatal("Release refused a connection idle again")
	}
	write(t, p.client, []byte("again"))
	if got := readN(t, p.server, 5); string(got) != "again" {
		t.Fatalf("read %q after a second Release", got)
	}
}

func TestReleaseKeepsDecryptedBytesNotYetRead(t *testing.T) {
	p := newPair(t)
	write(t, p.client, []byte("abcdef"))
	if got := readN(t, p.server, 1); string(got) != "a" {
		t.Fatalf("read %q", got)
	}
	if Release(p.server) {
		t.Fatal("Release dropped a buffer holding 5 decrypted bytes not yet read")
	}
	if got := readN(t, p.server, 5); string(got) != "bcdef" {
		t.Fatalf("read %q after a refused Release", got)
	}
}

func TestReleaseKeepsAHalfReceivedRecord(t *testing.T) {
	p := newPair(t)
	p.clientTCP.mu.Lock()
	p.clientTCP.keep = 10 // the record's last 10 bytes stay with the client
	p.clientTCP.mu.Unlock()
	write(t, p.client, []byte("a message cut in two"))

	// The server reads the first part of the record and times out
	// waiting for the rest, which stays in its record buffer. A read can
	// also time out before the first part arrived, or before it was even
	// tried (a deadline already past when it starts), so the server reads
	// until the record buffer holds the part.
	buf := make([]byte, 64)
	deadline := time.Now().Add(10 * time.Second)
	for rawBytes(p.server) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first part of the record never reached the server's record buffer")
		}
		if err := p.server.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if n, err := p.server.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read %d bytes, %v; want a timeout with the record incomplete", n, err)
		}
	}
	if Release(p.server) {
		t.Fatal("Release dropped the first part of a record")
	}
	if err := p.clientTCP.sendWithheld(); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, p.server, len("a message cut in two")); string(got) != "a message cut in two" {
		t.Fatalf("read %q once the record was whole", got)
	}
}

func TestReleaseLeavesAReadUnderWayAlone(t *testing.T) {
	p := newPair(t)
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 5)
		_, err := io.ReadFull(p.server, buf)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(buf)
	}()
	// Release refuses once the read holds the read lock; it cannot fail
	// to do so while the read waits, as the client has sent nothing.
	deadline := time.Now().Add(10 * time.Second)
	for Release(p.server) {
		if time.Now().After(deadline) {
			t.Fatal("Release kept succeeding while a read was waiting")
		}
		time.Sleep(time.Millisecond)
	}
	write(t, p.client, []byte("later"))
	if s := <-got; s != "later" {
		t.Fatalf("the waiting read returned %q", s)
	}
}

func TestReleaseOnNil(t *testing.T) {
	if Release(nil) {
		t.Fatal("Release(nil) reported a release")
	}
}
