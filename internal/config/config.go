// Package config owns the server configuration: its schema, the defaults,
// and how the layers are merged (defaults, then a YAML file that must not
// contain unknown keys, then SWITCHBOARD_* environment variables, then
// command-line flags). Validation reports every problem at once, each
// naming its key, so `switchboard check-config` can list them all.
//
// Each component owns its own section type and its validation (for example
// channel.Config); this package composes them and never hands the whole
// configuration to a component.
package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-rtc/switchboard/internal/channel"
	"github.com/switchboard-rtc/switchboard/internal/console"
	"github.com/switchboard-rtc/switchboard/internal/controlplane"
	"github.com/switchboard-rtc/switchboard/internal/devtls"
	"github.com/switchboard-rtc/switchboard/internal/ice"
	"github.com/switchboard-rtc/switchboard/internal/signaling"
	"github.com/switchboard-rtc/switchboard/internal/yamlerr"
)

// Config is the whole server configuration.
type Config struct {
	Server       Server              `yaml:"server"`
	Log          Log                 `yaml:"log"`
	Credentials  Keys                `yaml:"credentials"`
	Accounts     []Account           `yaml:"accounts"`
	Channels     channel.Config      `yaml:"channels"`
	ControlPlane controlplane.Config `yaml:"control_plane"`
	Signaling    signaling.Config    `yaml:"signaling"`
	Turn         ice.Config          `yaml:"turn"`
	Console      console.Config      `yaml:"console"`
}

// Server is the listener and identity section.
type Server struct {
	// Addr is the HTTPS listen address.
	Addr string `yaml:"addr"`
	// PublicHost is host[:port] advertised in endpoints; derived from the
	// listener when empty.
	PublicHost string `yaml:"public_host"`
	DataDir    string `yaml:"data_dir"`
	Region     string `yaml:"region"`
	// AccountID is the account of the root credentials.
	AccountID string `yaml:"account_id"`
	TLSCert   string `yaml:"tls_cert"`
	TLSKey    string `yaml:"tls_key"`
	// MaxBodyBytes caps request bodies.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ShutdownTimeout bounds a graceful shutdown.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// Log is the logging section.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Keys is an access key pair.
type Keys struct {
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
}

// Account is an extra account with its own keys; channels, names and ARNs
// are isolated per account.
type Account struct {
	ID              string `yaml:"id"`
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
}

// Defaults.
const (
	DefaultAddr      = ":8443"
	DefaultDataDir   = "./switchboard-data"
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "000000000000"
	DefaultMaxBody   = 1 << 20
)

// Default returns the configuration used when nothing is given.
func Default() Config {
	return Config{
		Server: Server{
			Addr:            DefaultAddr,
			DataDir:         DefaultDataDir,
			Region:          DefaultRegion,
			AccountID:       DefaultAccountID,
			MaxBodyBytes:    DefaultMaxBody,
			ShutdownTimeout: Duration(30 * time.Second),
		},
		Log:          Log{Level: "info", Format: "text"},
		Channels:     channel.DefaultConfig(),
		ControlPlane: controlplane.DefaultConfig(),
		Signaling:    signaling.DefaultConfig(),
		Turn:         ice.DefaultConfig(),
		Console:      console.DefaultConfig(),
	}
}

var (
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	keyIDPattern   = regexp.MustCompile(`^[A-Za-z0-9]{16,128}$`)
)

// Validate reports every problem in the configuration, each naming its key.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !validListenAddr(c.Server.Addr) {
		add("server.addr", "must be host:port with a port from 0 to 65535, got %q", c.Server.Addr)
	}
	if c.Server.PublicHost != "" {
		if err := checkPublicHost(c.Server.PublicHost); err != nil {
			add("server.public_host", "must be a host name or IP address, with an optional :port (IPv6 in brackets), without scheme or path: %v", err)
		}
	}
	if c.Server.DataDir == "" {
		add("server.data_dir", "must not be empty")
	}
	if !regionPattern.MatchString(c.Server.Region) {
		add("server.region", "must look like us-east-1, got %q", c.Server.Region)
	}
	if !accountPattern.MatchString(c.Server.AccountID) {
		add("server.account_id", "must be 12 digits, got %q", c.Server.AccountID)
	}
	if (c.Server.TLSCert == "") != (c.Server.TLSKey == "") {
		add("server.tls_cert", "tls_cert and tls_key must be given together")
	}
	readable := true
	for _, f := range []struct{ key, path string }{{"server.tls_cert", c.Server.TLSCert}, {"server.tls_key", c.Server.TLSKey}} {
		if f.path != "" {
			if _, err := os.ReadFile(f.path); err != nil {
				add(f.key, "cannot read %s: %v", f.path, errors.Unwrap(err))
				readable = false
			}
		}
	}
	if c.Server.TLSCert != "" && c.Server.TLSKey != "" && readable {
		if _, err := tls.LoadX509KeyPair(c.Server.TLSCert, c.Server.TLSKey); err != nil {
			add("server.tls_cert", "%s and %s are not a usable certificate and key pair: %v", c.Server.TLSCert, c.Server.TLSKey, err)
		}
	}
	if c.Server.MaxBodyBytes < 1024 {
		add("server.max_body_bytes", "must be at least 1024, got %d", c.Server.MaxBodyBytes)
	}
	if c.Server.ShutdownTimeout < Duration(time.Second) {
		add("server.shutdown_timeout", "must be at least 1s, got %s", c.Server.ShutdownTimeout)
	} else if time.Duration(c.Server.ShutdownTimeout) <= time.Duration(c.Signaling.ShutdownDrain) {
		add("server.shutdown_timeout", "must be longer than signaling.shutdown_drain (%s): the WebSocket connections are given that long "+
			"after GO_AWAY before the HTTPS server stops, and requests in flight need what is left; got %s",
			c.Signaling.ShutdownDrain, c.Server.ShutdownTimeout)
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		add("log.format", "must be text or json, got %q", c.Log.Format)
	}
	errs = append(errs, c.validateKeys()...)
	for _, section := range []interface{ Validate() error }{c.Channels, c.ControlPlane, c.Signaling, c.Turn, c.Console} {
		if err := section.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c Config) validateKeys() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if (c.Credentials.AccessKeyID == "") != (c.Credentials.SecretAccessKey == "") {
		add("credentials", "access_key_id and secret_access_key must be given together")
	}
	seen := map[string]string{}
	checkPair := func(key, id, secret string) {
		if id == "" {
			return
		}
		if !keyIDPattern.MatchString(id) {
			add(key+".access_key_id", "must be 16 to 128 letters and digits")
		}
		if len(secret) < 16 {
			add(key+".secret_access_key", "must be at least 16 characters")
		}
		if prev, dup := seen[id]; dup {
			add(key+".access_key_id", "%s is already used by %s", id, prev)
		}
		seen[id] = key
	}
	checkPair("credentials", c.Credentials.AccessKeyID, c.Credentials.SecretAccessKey)
	for i, a := range c.Accounts {
		key := fmt.Sprintf("accounts[%d]", i)
		if !accountPattern.MatchString(a.ID) {
			add(key+".id", "must be 12 digits, got %q", a.ID)
		}
		if a.AccessKeyID == "" {
			add(key+".access_key_id", "is required")
		}
		checkPair(key, a.AccessKeyID, a.SecretAccessKey)
	}
	return errs
}

// validListenAddr reports whether addr is host:port with a port net.Listen
// takes: a number from 0 to 65535 or a service name.
func validListenAddr(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	_, err = net.LookupPort("tcp", port)
	return err == nil
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use a form like 30s or 5m)", text)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML parses a duration in the configuration file; a bad one is
// reported with its line, and the rest of the file is still read.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	return yamlerr.Scalar(n, "a duration", func(v string) error { return d.UnmarshalText([]byte(v)) })
}

// MarshalText formats the duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// String formats the duration.
func (d Duration) String() string { return time.Duration(d).String() }

// checkPublicHost accepts what endpoints can be built from: a DNS name or
// an IP address (an IPv6 one in brackets), with an optional numeric port.
func checkPublicHost(s string) error {
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not a number from 1 to 65535 in %q", port, s)
		}
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is6() && !strings.HasPrefix(s, "[") {
			return fmt.Errorf("IPv6 address %q must be in brackets, as in [%s]", s, host)
		}
		if ip.Zone() != "" {
			return fmt.Errorf("%q has a zone, which URLs cannot carry", s)
		}
		return nil
	}
	if strings.HasPrefix(s, "[") {
		return fmt.Errorf("%q in brackets is not an IPv6 address", host)
	}
	if !devtls.ValidDNSName(strings.TrimSuffix(host, ".")) {
		return fmt.Errorf("%q is not a DNS name or an IP address", host)
	}
	return nil
}
