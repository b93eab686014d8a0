package bench

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/sigv4"
)

// Identity of the server under test.
const (
	benchRegion  = "us-east-1"
	benchAccount = "111122223333"
)

// server is a running `switchboard serve` child on loopback.
type server struct {
	*child
	Addr      string // host:port of the HTTPS listener
	Endpoint  string // https://host:port
	DataDir   string
	CAFile    string
	Creds     sigv4.Credentials
	TLS       *tls.Config // trusts the development CA
	PinnedTLS *tls.Config // accepts exactly the server's leaf certificate
	Pprof     string      // host:port of the profiling listener, if any
}

// serverSpec is what a scenario needs of the server: extra YAML settings
// (merged into the generated file) and extra flags.
type serverSpec struct {
	yaml  string
	flags []string
}

var (
	listeningLine = regexp.MustCompile(`listening on ([0-9.:\[\]a-f]+)\)`)
	pprofLine     = regexp.MustCompile(`pprof listening on ([0-9.:]+)`)
)

// startServer starts the server under test with a fresh data directory
// under dir and waits until it is ready.
// startScratchServer starts a server in a temporary directory of its own;
// stop ends it and removes the directory.
func startScratchServer(ctx context.Context, opts Options, spec serverSpec) (srv *server, stop func(), err error) {
	dir, err := os.MkdirTemp("", "switchboard-bench-")
	if err != nil {
		return nil, nil, err
	}
	srv, err = startServer(ctx, opts, dir, spec)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return srv, func() { srv.stop(); os.RemoveAll(dir) }, nil
}

func startServer(ctx context.Context, opts Options, dir string, spec serverSpec) (*server, error) {
	dataDir := filepath.Join(dir, "switchboard-data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(dir, "switchboard.yaml")
	if err := os.WriteFile(cfgFile, []byte(spec.yaml), 0o600); err != nil {
		return nil, err
	}
	creds := sigv4.Credentials{AccessKeyID: "SBBENCH" + randomText(13, upperAlnum), SecretAccessKey: randomText(40, mixedAlnum)}
	args := []string{"serve", "--config", cfgFile, "--data-dir", dataDir, "--addr", "127.0.0.1:0",
		"--region", benchRegion, "--account-id", benchAccount, "--log-level", "warn"}
	args = append(args, spec.flags...)
	env := []string{"SWITCHBOARD_ACCESS_KEY_ID=" + creds.AccessKeyID, "SWITCHBOARD_SECRET_ACCESS_KEY=" + creds.SecretAccessKey}
	if opts.Profile {
		env = append(env, ProfileEnv+"=127.0.0.1:0")
	}
	c, m, err := startChild(ctx, childSpec{name: "switchboard serve", path: opts.ServerBinary, args: args, env: env, ready: listeningLine})
	if err != nil {
		return nil, err
	}
	s := &server{child: c, Addr: m[1], Endpoint: "https://" + m[1], DataDir: dataDir,
		CAFile: filepath.Join(dataDir, "tls", "ca.pem"), Creds: creds}
	if opts.Profile {
		if pm, err := c.find(pprofLine, 5*time.Second); err == nil {
			s.Pprof = pm[1]
		}
	}
	if err := s.loadTLS(); err != nil {
		c.stop()
		return nil, err
	}
	if err := s.waitReady(ctx); err != nil {
		c.stop()
		return nil, err
	}
	return s, nil
}

// loadTLS builds the client TLS settings: one that trusts the development
// CA, and one pinned to the exact leaf certificate (a cheap, still exact,
// check for load generators that open connections by the thousand).
func (s *server) loadTLS() error {
	caPEM, err := os.ReadFile(s.CAFile)
	if err != nil {
		return fmt.Errorf("bench: development CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("bench: no certificate in " + s.CAFile)
	}
	s.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	leafPEM, err := os.ReadFile(filepath.Join(s.DataDir, "tls", "server.pem"))
	if err != nil {
		return fmt.Errorf("bench: server certificate: %w", err)
	}
	block, _ := pem.Decode(leafPEM)
	if block == nil {
		return errors.New("bench: server.pem holds no certificate")
	}
	s.PinnedTLS = pinnedTLS(block.Bytes)
	return nil
}

// pinnedTLS accepts a server that presents exactly the certificate der.
func pinnedTLS(der []byte) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, //nolint:gosec // replaced by the exact pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytesEqual(cs.PeerCertificates[0].Raw, der) {
				return errors.New("bench: the server's certificate is not the pinned one")
			}
			return nil
		},
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

func (s *server) waitReady(ctx context.Context) error {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: s.TLS}}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := hc.Get(s.Endpoint + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("bench: stopped while waiting for the server to be ready: %w", context.Cause(ctx))
	}
	return fmt.Errorf("bench: the server never became ready:\n%s", s.out.String())
}

// Client returns a REST client of the SDK with its own HTTP/1.1 connection
// pool of up to conns connections.
func (s *server) Client(conns int) (*client.Client, error) {
	tr := &http.Transport{
		TLSClientConfig:     s.TLS.Clone(),
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	return client.New(client.Config{
		Endpoint:    s.Endpoint,
		Region:      benchRegion,
		Credentials: client.StaticCredentials(s.Creds),
		HTTPClient:  &http.Client{Timeout: 30 * time.Second, Transport: tr},
	})
}

// wssEndpoint is the WebSocket endpoint of the server.
func (s *server) wssEndpoint() string { return "wss://" + s.Addr }

const (
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	mixedAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

func randomText(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// limitsYAML raises the per-channel and per-connection limits that exist
// to protect a production server from one client, and switches off the
// control plane's call rates, so that a scenario measures throughput
// rather than those limits. Every setting is printed in the report.
// signaling stays the last section: extra may continue it, and may add a
// turn section of its own after that; without one, the embedded TURN
// listens on a free loopback UDP port only, so that the scenario's server
// never takes the default port (3478, on every interface) from anything
// else running on the machine.
func limitsYAML(extra string) string {
	y := strings.TrimSpace(`
channels:
  max_per_account: 0
console:
  enabled: false
control_plane:
  rate_limits: false
signaling:
  max_viewers_per_channel: 1000
  connects_per_second_per_channel: 1000000
  connect_burst_per_channel: 1000000
  sdp_offers_per_second: 1000000
  sdp_offer_burst: 1000000
  sdp_answers_per_second: 1000000
  sdp_answer_burst: 1000000
  ice_candidates_per_second: 1000000
  ice_candidate_burst: 1000000
`) + "\n" + extra
	if !strings.HasSuffix(y, "\n") {
		y += "\n"
	}
	if !strings.HasPrefix(extra, "turn:") && !strings.Contains(extra, "\nturn:") {
		y += loopbackTURN
	}
	return y
}

// loopbackTURN keeps a scenario's embedded TURN server on a free loopback
// port.
const loopbackTURN = `turn:
  udp_addr: 127.0.0.1:0
  tcp_addr: ""
  tls_addr: ""
  relay_ip: 127.0.0.1
`
