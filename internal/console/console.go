// Package console serves the Switchboard web console: the HTML, CSS and
// JavaScript files embedded in the binary (go:embed), the small JSON
// documents the pages need before they can sign requests (the region, and
// on a loopback development server the generated keys for one-click
// sign-in), and the security headers that keep the pages to their own
// origin.
//
// It owns no API of its own and must not become a back door: every channel
// operation and every signaling connection the pages make is SigV4-signed
// in the browser and goes through the same public control plane and
// WebSocket endpoint as the AWS SDKs. The package must not import the
// control plane, the signaling hub or the store.
package console

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Dev-login modes of Config.DevLogin.
const (
	// DevLoginAuto offers the generated development keys only to
	// requests from a loopback address naming a loopback host.
	DevLoginAuto = "auto"
	// DevLoginOn offers the generated development keys to any client
	// (a development machine reached over a trusted network).
	DevLoginOn = "on"
	// DevLoginOff never offers keys: everyone signs in with a key pair.
	DevLoginOff = "off"
)

// Config is the console section of the server configuration.
type Config struct {
	// Enabled serves the console under /console/.
	Enabled bool `yaml:"enabled"`
	// DevLogin decides when the sign-in page offers one-click sign-in with
	// the server's generated development keys: "auto" (default) only when
	// the server generated its keys (none configured) and the request comes
	// from a loopback address; "on" also from other addresses; "off" never.
	DevLogin string `yaml:"dev_login"`
}

// DefaultConfig returns the console enabled, with one-click sign-in on
// loopback development servers only.
func DefaultConfig() Config {
	return Config{Enabled: true, DevLogin: DevLoginAuto}
}

// Validate reports every problem in the section, keys prefixed "console.".
func (c Config) Validate() error {
	switch c.DevLogin {
	case DevLoginAuto, DevLoginOn, DevLoginOff:
		return nil
	default:
		return fmt.Errorf("console.dev_login: must be auto, on or off, got %q", c.DevLogin)
	}
}

// Deps are what the console needs from the server.
type Deps struct {
	// Region is the region the server answers for; the pages sign with it.
	Region string
	// DevCredentials returns the development key pair the server generated
	// for itself. It is nil, or returns ok=false, when there is none to
	// offer (keys were configured).
	DevCredentials func() (accessKeyID, secret string, ok bool)
	// PublicHTTPS and PublicWSS are the endpoints the server advertises in
	// GetSignalingChannelEndpoint (for example https://localhost:8443 and
	// wss://localhost:8443). The pages call them, so the page's policy
	// must allow them even when the console was opened under another host
	// name (127.0.0.1, a proxy's name). Empty when there is none to add; a
	// value that is not a plain scheme://host[:port] is left out of the
	// policy with a warning.
	PublicHTTPS string
	PublicWSS   string
	// Logger receives the console's few log lines; discarded when nil.
	Logger *slog.Logger
}

// ErrNoRegion is returned by New when Deps.Region is empty.
var ErrNoRegion = errors.New("console: the server region is required")

// Console is the web console handler.
type Console struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	assets *assets
	// connect lists the advertised origins the CSP's connect-src names
	// besides 'self' and the request's own WebSocket origin.
	connect []string
}

// New builds the console from its configuration. It starts nothing.
func New(cfg Config, deps Deps) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Region == "" {
		return nil, ErrNoRegion
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, deps: deps, log: log.With("component", "console"), assets: a}
	for _, e := range []struct{ value, scheme string }{{deps.PublicHTTPS, "https"}, {deps.PublicWSS, "wss"}} {
		if e.value == "" {
			continue
		}
		origin, ok := cspOrigin(e.value, e.scheme)
		if !ok {
			c.log.Warn("an advertised endpoint is not a plain scheme://host[:port]; the console's Content-Security-Policy leaves it out",
				"endpoint", e.value, "scheme", e.scheme)
			continue
		}
		c.connect = append(c.connect, origin)
	}
	if cfg.DevLogin == DevLoginOn && c.devKeysAvailable() {
		c.log.Warn("console.dev_login is on: the generated development keys are offered to every client that can reach the console")
	}
	return c, nil
}

// Handler serves GET and HEAD requests for /console and everything below
// it. When the console is disabled it answers 404 for every path.
func (c *Console) Handler() http.Handler {
	return http.HandlerFunc(c.serveHTTP)
}

// ServeHTTP makes *Console an http.Handler; it is the same as Handler().
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.serveHTTP(w, r) }

func (c *Console) devKeysAvailable() bool {
	if c.deps.DevCredentials == nil {
		return false
	}
	_, _, ok := c.deps.DevCredentials()
	return ok
}
