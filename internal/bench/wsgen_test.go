package bench

import (
	"bytes"
	"context"
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
