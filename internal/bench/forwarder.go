package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// forwarderCommand is the hidden `switchboard bench` subcommand that runs
// the relay baseline in a child process.
const forwarderCommand = "_forwarder"

// forwarder is the relay baseline: a bare WebSocket forwarder built on the
// same WebSocket library as the server (github.com/gobwas/ws, which
// internal/wsserver uses for the RFC's details), over the same TLS, with no
// authentication and no routing: a goroutine reads each connection and
// writes each frame at once. A connection without X-Amz-ClientId is a
// master; a viewer's messages go, as they are, to the master that
// connected with the same X-Amz-ChannelARN.
type forwarder struct {
	mu      sync.Mutex
	masters map[string]*genConn
}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	nc, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	defer nc.Close()
	c := &genConn{conn: nc, in: rw.Reader}
	q := r.URL.Query()
	arn := q.Get(kvsapi.QueryChannelARN)
	if !q.Has(kvsapi.QueryClientID) {
		f.mu.Lock()
		f.masters[arn] = c
		f.mu.Unlock()
		c.readLoop(nil)
		return
	}
	master := f.waitMaster(arn)
	if master == nil {
		return
	}
	c.readLoop(func(message []byte) {
		if master.writeText(message) != nil {
			_ = c.closeNow()
		}
	})
}

func (f *forwarder) waitMaster(arn string) *genConn {
	for range 100 {
		f.mu.Lock()
		m := f.masters[arn]
		f.mu.Unlock()
		if m != nil {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// forwarderMain serves the forwarder on a loopback port until the process
// is stopped.
func forwarderMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("switchboard bench "+forwarderCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	certDir := fs.String("tls-dir", "", "directory holding server.pem and server-key.pem")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(*certDir, "server.pem"), filepath.Join(*certDir, "server-key.pem"))
	if err != nil {
		fmt.Fprintln(stderr, "forwarder:", err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "forwarder:", err)
		return 1
	}
	fmt.Fprintf(stderr, "forwarder listening on %s\n", ln.Addr())
	srv := &http.Server{
		Handler:           &forwarder{masters: map[string]*genConn{}},
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		ReadHeaderTimeout: 10 * time.Second,
	}
	if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "forwarder:", err)
		return 1
	}
	return 0
}

// forwarderProc is a running forwarder child.
type forwarderProc struct {
	*child
	addr  string
	pprof string // its profiling endpoint, when the bench profiles
}

var forwarderLine = regexp.MustCompile(`forwarder listening on ([0-9.:]+)`)

func startForwarder(ctx context.Context, opts Options, tlsDir string) (*forwarderProc, error) {
	var env []string
	if opts.Profile {
		env = append(env, ProfileEnv+"=127.0.0.1:0")
	}
	c, m, err := startChild(ctx, childSpec{name: "bare forwarder", path: opts.Binary,
		args: []string{"bench", forwarderCommand, "--tls-dir", tlsDir}, env: env, ready: forwarderLine, wait: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	f := &forwarderProc{child: c, addr: m[1]}
	if opts.Profile {
		if pm, err := c.find(pprofLine, 5*time.Second); err == nil {
			f.pprof = pm[1]
		}
	}
	return f, nil
}
