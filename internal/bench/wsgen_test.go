package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestAppendHeaderRoundTrip: the generator's frame headers read back as
// written at every length encoding (7-bit, 16-bit and 64-bit).
func TestAppendHeaderRoundTrip(t *testing.T) {
	for _, n := range []int64{0, 125, 126, 65535, 65536, 1 << 20} {
		for _, masked := range []bool{false, true} {
			want := ws.Header{Fin: true, OpCode: ws.OpText, Length: n, Masked: masked}
			if masked {
				want.Mask = [4]byte{1, 2, 3, 4}
			}
			got, err := ws.ReadHeader(bytes.NewReader(appendHeader(nil, want)))
			if err != nil || got != want {
				t.Errorf("length %d, masked %v: read back %+v (%v)", n, masked, got, err)
			}
		}
	}
}

// TestGenConnReadsLikeAClient: a genConn joins a fragmented message,
// hands over unfragmented ones as they are, answers a ping with a masked
// pong carrying the ping's payload, and echoes a close.
func TestGenConnReadsLikeAClient(t *testing.T) {
	server, clientSide := net.Pipe()
	defer server.Close()
	c := &genConn{conn: clientSide, in: clientSide, client: true}
	got := make(chan string, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.readLoop(func(m []byte) { got <- string(m) })
	}()
	_ = server.SetDeadline(time.Now().Add(10 * time.Second))
	write := func(f ws.Frame) {
		if err := ws.WriteFrame(server, f); err != nil {
			t.Fatal(err)
		}
	}
	write(ws.NewFrame(ws.OpText, false, []byte("hel")))
	write(ws.NewFrame(ws.OpContinuation, false, []byte("lo ")))
	write(ws.NewFrame(ws.OpContinuation, true, []byte("world")))
	write(ws.NewFrame(ws.OpText, true, []byte("whole")))
	for _, want := range []string{"hello world", "whole"} {
		if m := <-got; m != want {
			t.Fatalf("message %q, want %q", m, want)
		}
	}
	write(ws.NewFrame(ws.OpPing, true, []byte("are you there")))
	pong, err := ws.ReadFrame(server)
	if err != nil {
		t.Fatal(err)
	}
	if !pong.Header.Masked {
		t.Error("the client's pong is not masked")
	}
	pong = ws.UnmaskFrameInPlace(pong)
	if pong.Header.OpCode != ws.OpPong || string(pong.Payload) != "are you there" {
		t.Errorf("answer to a ping: %v %q", pong.Header.OpCode, pong.Payload)
	}
	write(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye")))
	echo, err := ws.ReadFrame(server)
	if err != nil || echo.Header.OpCode != ws.OpClose {
		t.Errorf("answer to a close: %v (%v)", echo.Header.OpCode, err)
	}
	<-done
}

// TestDialReportsRefusal: a connect the server refuses fails with the
// server's status and error body, and without waiting for a deadline (the
// dial has none: reading past the answer would hang the test).
func TestDialReportsRefusal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := startTestServer(ctx, t, limitsYAML(""))
	arns, err := createChannels(ctx, srv, "refused", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	wrong := srv.Creds
	wrong.SecretAccessKey = "not-the-secret"
	d := newWSDialer(srv.wssEndpoint(), &wrong, srv.PinnedTLS, 1)
	c, _, err := d.dial(context.Background(), arns[0], "")
	if err == nil {
		_ = c.closeNow()
		t.Fatal("a connect signed with the wrong secret was accepted")
	}
	if !strings.Contains(err.Error(), "HTTP 403") || !strings.Contains(err.Error(), "signature") {
		t.Errorf("refusal reported as %q, want the 403 and the server's message", err)
	}
}

// TestRigDialIsBounded: a target that accepts TCP connections and then
// answers nothing fails the relay rig's connect within the dialer's
// bound, even under a context without a deadline (as `switchboard bench`
// runs): the rig must not wait for it for ever.
func TestRigDialIsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c // accepted, never answered
		}
	}()
	defer func() {
		for len(held) > 0 {
			(<-held).Close()
		}
	}()
	d := newWSDialer("wss://"+ln.Addr().String(), nil, &tls.Config{MinVersion: tls.VersionTLS12}, 1)
	d.timeout = 500 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		rig, err := connectRig(context.Background(), d, []string{"arn:aws:kinesisvideo:us-east-1:111122223333:channel/hung/1"}, 1)
		if rig != nil {
			rig.close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("connected to a target that never answered")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the rig still waits for a target that never answers after 20 s (dial bound 500 ms)")
	}
}
