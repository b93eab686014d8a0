package app

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClientThatStopsReadingLosesTheConnection: a client that sends
// requests and never reads the replies must not hold a connection and its
// goroutine for ever. Once a reply has waited longer than the write
// timeout for the client to make room, the server drops the connection.
// Requests pipelined on one HTTP/1.1 connection are answered one after the
// other, so replies to many of them fill the socket buffers and stall the
// server's write.
func TestClientThatStopsReadingLosesTheConnection(t *testing.T) {
	const writeTimeout = 300 * time.Millisecond
	cfg := testConfig(t)
	cfg.Console.Enabled = true // its style sheet is a 16 KiB reply
	addr := runApp(t, cfg, func(a *App) { a.writeTimeout = writeTimeout })

	// A small receive buffer keeps the client's window small, so that the
	// server's writes stall after a few megabytes at most.
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	conn, err := tls.DialWithDialer(dialer, "tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	const requests = 1500 // about 25 MB of replies
	request := "GET /console/assets/css/app.css HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	written := make(chan error, 1)
	go func() {
		_, err := io.WriteString(conn, strings.Repeat(request, requests))
		written <- err
	}()
	select {
	case err := <-written:
		if err != nil {
			t.Fatalf("writing the requests: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the requests could not be written in 10s")
	}
	time.Sleep(5 * writeTimeout) // the client reads nothing meanwhile

	br := bufio.NewReader(conn)
	answered := 0
	for {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the connection is still open after %d of %d replies, %s after the client stopped reading for %s; want it closed",
				answered, requests, "5s", 5*writeTimeout)
		}
		if err != nil {
			if answered >= requests {
				t.Fatalf("all %d replies were written to a client that did not read for %s", answered, 5*writeTimeout)
			}
			t.Logf("connection closed after %d of %d replies: %v", answered, requests, err)
			return
		}
		answered++
		if answered == requests {
			t.Fatalf("all %d replies were written to a client that did not read for %s", answered, 5*writeTimeout)
		}
	}
}
