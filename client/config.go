package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-rtc/switchboard/sigv4"
)

// signingService is the SigV4 service name of every KVS surface: control
// plane, HTTPS data plane and the WebSocket presign (spec 7.1).
const signingService = "kinesisvideo"

// defaultHTTPTimeout bounds one REST call of the default HTTP client.
const defaultHTTPTimeout = 30 * time.Second

// CredentialsProvider supplies the credentials requests are signed with.
// Retrieve is called before every REST call and every WebSocket connect,
// so a provider can rotate temporary credentials; it must be safe for
// concurrent use.
type CredentialsProvider interface {
	Retrieve(ctx context.Context) (sigv4.Credentials, error)
}

// StaticCredentials are fixed credentials: an access key id, its secret
// and, for temporary credentials, a session token.
type StaticCredentials sigv4.Credentials

// Retrieve returns the credentials. It fails when the key id or the secret
// is missing.
func (s StaticCredentials) Retrieve(context.Context) (sigv4.Credentials, error) {
	if s.AccessKeyID == "" || s.SecretAccessKey == "" {
		return sigv4.Credentials{}, errors.New("client: static credentials need an access key id and a secret access key")
	}
	return sigv4.Credentials(s), nil
}

// CredentialsFunc adapts a function to CredentialsProvider, for example to
// bridge another SDK's credential chain.
type CredentialsFunc func(ctx context.Context) (sigv4.Credentials, error)

// Retrieve calls f.
func (f CredentialsFunc) Retrieve(ctx context.Context) (sigv4.Credentials, error) { return f(ctx) }

var (
	_ CredentialsProvider = StaticCredentials{}
	_ CredentialsProvider = CredentialsFunc(nil)
)

// Config configures a Client.
type Config struct {
	// Endpoint is the control plane's base URL, https://host[:port]
	// (for real KVS https://kinesisvideo.REGION.amazonaws.com). Required.
	Endpoint string
	// Region is the SigV4 signing region, e.g. "us-west-2". Required.
	Region string
	// Credentials sign every request. Required.
	Credentials CredentialsProvider
	// HTTPClient sends the requests. When nil, a client with a 30-second
	// timeout is built that trusts TLSConfig's roots.
	HTTPClient *http.Client
	// TLSConfig is used by the default HTTP client, typically to trust a
	// development CA, and by the signaling connections of the Master and
	// Viewer peers built on this Client. When HTTPClient is set, its
	// transport's TLS settings are used instead, if it has any.
	TLSConfig *tls.Config
	// Clock is the local clock requests are signed with; time.Now when
	// nil. Set it when the device has a better source of time than its
	// system clock (GPS, its own time sync), or to test. Either way the
	// client corrects it by the server's clock after a refusal for clock
	// skew (see the package documentation).
	Clock func() time.Time
}

// Client calls the KVS control plane and the HTTPS data plane. It is safe
// for concurrent use. It retries a failed call only once, and only when the
// server refused the signature's time (clock skew), after correcting its
// clock.
type Client struct {
	endpoint string // normalised, no trailing slash
	region   string
	creds    CredentialsProvider
	http     *http.Client
	tls      *tls.Config   // for the signaling connections of Master and Viewer
	clock    *signingClock // shared with the signaling connections of Master and Viewer
}

// New checks cfg and returns a Client. It performs no I/O.
func New(cfg Config) (*Client, error) {
	endpoint, err := normaliseHTTPSEndpoint("Endpoint", cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		return nil, errors.New("client: Config.Region is required")
	}
	if cfg.Credentials == nil {
		return nil, errors.New("client: Config.Credentials is required")
	}
	hc := cfg.HTTPClient
	tlsConfig := cfg.TLSConfig
	if hc == nil {
		hc = &http.Client{Timeout: defaultHTTPTimeout, Transport: newTransport(cfg.TLSConfig)}
	} else if t, ok := hc.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
		tlsConfig = t.TLSClientConfig
	}
	return &Client{endpoint: endpoint, region: cfg.Region, creds: cfg.Credentials, http: hc, tls: tlsConfig,
		clock: newSigningClock(cfg.Clock)}, nil
}

// ClockSkew is what the client adds to its local clock when it signs: the
// difference to the server's clock it learned from the last refusal for
// clock skew, zero before any. Master and Viewer peers built on the Client
// share it.
func (c *Client) ClockSkew() time.Duration { return c.clock.skew() }

// newTransport is an HTTP/1.1 transport with the given TLS settings and
// the environment's proxy settings.
func newTransport(tlsConfig *tls.Config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if tlsConfig != nil {
		t.TLSClientConfig = tlsConfig.Clone()
	}
	return t
}

// normaliseHTTPSEndpoint checks that s is an http(s) base URL without
// query or fragment and returns it without a trailing slash.
func normaliseHTTPSEndpoint(field, s string) (string, error) {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return "", fmt.Errorf("client: %s is required", field)
	case err != nil:
		return "", fmt.Errorf("client: %s: %w", field, err)
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Errorf("client: %s must be an https:// URL, got %q", field, s)
	case u.Host == "":
		return "", fmt.Errorf("client: %s has no host: %q", field, s)
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("client: %s must not have a query or fragment: %q", field, s)
	}
	return strings.TrimRight(s, "/"), nil
}
