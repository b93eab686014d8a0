package ice

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchboard-rtc/switchboard/internal/yamlerr"
)

// Config is the "turn" section of the server configuration.
//
// The embedded relay runs when Enabled is true and ExternalURIs is empty.
// With ExternalURIs set, GetIceServerConfig mints credentials for that
// external TURN server (coturn's use-auth-secret scheme) and the embedded
// relay does not start, whatever Enabled says.
type Config struct {
	// Enabled starts the embedded STUN/TURN server.
	Enabled bool `yaml:"enabled"`
	// UDPAddr is the STUN and TURN/UDP listen address; "" turns it off.
	UDPAddr string `yaml:"udp_addr"`
	// TCPAddr is the TURN/TCP listen address; "" turns it off.
	TCPAddr string `yaml:"tcp_addr"`
	// TLSAddr is the TURN/TLS listen address (the HTTPS certificate is
	// used); "" turns it off.
	TLSAddr string `yaml:"tls_addr"`
	// RelayIP is the address advertised in relayed candidates. Default
	// (chooseRelayIP): the public host when it is an IPv4 literal, else
	// the machine's first IPv4 address that is neither loopback nor
	// link-local, else the public host when it is an IPv6 literal, else
	// 127.0.0.1.
	RelayIP string `yaml:"relay_ip"`
	// RelayPortMin and RelayPortMax bound the relay ports (inclusive);
	// both 0 lets the system choose.
	RelayPortMin int `yaml:"relay_port_min"`
	RelayPortMax int `yaml:"relay_port_max"`
	// AllowPeers are CIDRs the relay may reach even though the default
	// policy denies them (for example 127.0.0.0/8 in tests, or the
	// operator's own media servers).
	AllowPeers []string `yaml:"allow_peers"`
	// CredentialTTL is how long a minted credential is valid; it is the
	// Ttl of GetIceServerConfig (from 31s to 24h).
	CredentialTTL Duration `yaml:"credential_ttl"`
	// SecretRotation is how long each key that signs the embedded relay's
	// credentials is used (see keyring.go): whole seconds, from
	// CredentialTTL to 366 days.
	SecretRotation Duration `yaml:"secret_rotation"`
	// BandwidthBitsPerSecond caps each allocation in each direction; 0
	// means no cap.
	BandwidthBitsPerSecond int64 `yaml:"bandwidth_bits_per_second"`
	// MaxAllocationsPerCredential caps the live allocations made with the
	// credentials of one client of one channel (one account, channel ARN
	// and ClientId), however many times it fetched new ones: every
	// GetIceServerConfig call mints a new username, so the count goes by
	// the scope the username carries, not by the username. 0 means no cap.
	MaxAllocationsPerCredential int `yaml:"max_allocations_per_credential"`
	// MaxAllocationsPerChannel caps the live allocations of one signaling
	// channel; 0 means no cap.
	MaxAllocationsPerChannel int `yaml:"max_allocations_per_channel"`
	// MaxAllocationsPerAccount caps the live allocations of all the
	// channels of one account, so that one account cannot take the whole
	// relay port range from the others; 0 means no cap.
	MaxAllocationsPerAccount int `yaml:"max_allocations_per_account"`
	// MaxPermissionsPerAllocation caps the peer IP addresses one
	// allocation holds a permission for (CreatePermission, ChannelBind);
	// a permission being refreshed always passes. 0 means no cap.
	MaxPermissionsPerAllocation int `yaml:"max_permissions_per_allocation"`
	// MaxTCPConnectionsPerAllocation caps the live peer connections of
	// one TCP relay (RFC 6062), those it dialled for Connect requests and
	// those peers opened to it together; 0 means no cap. Each holds a
	// file descriptor until it is bound or, unbound, for 30 seconds.
	MaxTCPConnectionsPerAllocation int `yaml:"max_tcp_connections_per_allocation"`
	// MaxTCPConnections caps the live TURN client connections over TCP,
	// TLS and the HTTPS port together; 0 means no cap. Each holds a file
	// descriptor, which the HTTPS listener needs too.
	MaxTCPConnections int `yaml:"max_tcp_connections"`
	// MaxTCPConnectionsPerIP caps those connections per client address
	// (per /64 for IPv6, which a single host often owns whole); 0 means no
	// cap.
	MaxTCPConnectionsPerIP int `yaml:"max_tcp_connections_per_ip"`
	// UDPListeners is how many sockets share the UDP port (SO_REUSEPORT),
	// each read by its own goroutine.
	UDPListeners int `yaml:"udp_listeners"`
	// OnHTTPSPort serves TURN over TLS on the HTTPS listener as well.
	OnHTTPSPort bool `yaml:"on_https_port"`
	// ExternalURIs are the turn:, turns: and stun: URIs of an external
	// TURN server; setting them selects external mode.
	ExternalURIs []string `yaml:"external_uris"`
	// ExternalSecret is the external server's shared secret
	// (coturn static-auth-secret).
	ExternalSecret string `yaml:"external_secret"`
	// GetIceServerConfigPerSecond is the per-channel call rate of
	// GetIceServerConfig, with GetIceServerConfigBurst calls of burst.
	GetIceServerConfigPerSecond float64 `yaml:"get_ice_server_config_per_second"`
	GetIceServerConfigBurst     int     `yaml:"get_ice_server_config_burst"`
	// Realm is the TURN realm.
	Realm string `yaml:"realm"`
}

// Defaults.
const (
	DefaultUDPAddr                = ":3478"
	DefaultTCPAddr                = ":3478"
	DefaultTLSAddr                = ":5349"
	DefaultRelayPortMin           = 49152
	DefaultRelayPortMax           = 65535
	DefaultCredentialTTL          = 5 * time.Minute
	DefaultSecretRotation         = 24 * time.Hour
	DefaultBandwidthBitsPerSecond = 5_000_000
	// A master holds a PeerConnection per viewer on one credential scope,
	// and every PeerConnection allocates once per TURN URI of the first
	// ICE entry (up to maxURIsPerEntry): a channel at the hub's default of
	// 10 viewers, relayed on both sides, needs 40 for its master and 80 in
	// all. The caps leave room above that for PeerConnections being
	// replaced while the old ones' allocations close.
	DefaultMaxAllocationsPerCred    = 64
	DefaultMaxAllocationsPerChannel = 128
	// DefaultMaxAllocationsPerAccount is a quarter of the default relay
	// port range (49152-65535, 16384 ports): an account at its cap leaves
	// three quarters of the ports to the others.
	DefaultMaxAllocationsPerAccount  = 4096
	DefaultMaxTCPConnections         = 10000
	DefaultMaxTCPConnectionsPerIP    = 256
	DefaultMaxTCPConnectionsPerAlloc = 32
	DefaultMaxPermissionsPerAlloc    = 64
	DefaultIceServerConfigPerSecond  = 5
	DefaultIceServerConfigBurst      = 10
	DefaultRealm                     = "switchboard"
	minCredentialTTL                 = 31 * time.Second // inclusive: the Ttl is whole seconds and KVS clients need it above 30
	maxCredentialTTL                 = 24 * time.Hour
	maxExternalURIs                  = maxEntries * maxURIsPerEntry
	maxURILength                     = 256
	maxUDPListeners                  = 1024
	keyPrefix                        = "turn."
)

// DefaultConfig returns the defaults: the embedded relay on, safe peer
// policy, KVS quota figures.
func DefaultConfig() Config {
	return Config{
		Enabled:                        true,
		UDPAddr:                        DefaultUDPAddr,
		TCPAddr:                        DefaultTCPAddr,
		TLSAddr:                        DefaultTLSAddr,
		RelayPortMin:                   DefaultRelayPortMin,
		RelayPortMax:                   DefaultRelayPortMax,
		CredentialTTL:                  Duration(DefaultCredentialTTL),
		SecretRotation:                 Duration(DefaultSecretRotation),
		BandwidthBitsPerSecond:         DefaultBandwidthBitsPerSecond,
		MaxAllocationsPerCredential:    DefaultMaxAllocationsPerCred,
		MaxAllocationsPerChannel:       DefaultMaxAllocationsPerChannel,
		MaxAllocationsPerAccount:       DefaultMaxAllocationsPerAccount,
		MaxTCPConnections:              DefaultMaxTCPConnections,
		MaxTCPConnectionsPerIP:         DefaultMaxTCPConnectionsPerIP,
		MaxTCPConnectionsPerAllocation: DefaultMaxTCPConnectionsPerAlloc,
		MaxPermissionsPerAllocation:    DefaultMaxPermissionsPerAlloc,
		UDPListeners:                   max(runtime.NumCPU(), 1),
		GetIceServerConfigPerSecond:    DefaultIceServerConfigPerSecond,
		GetIceServerConfigBurst:        DefaultIceServerConfigBurst,
		Realm:                          DefaultRealm,
	}
}

// Embedded reports whether this configuration runs the embedded relay.
func (c Config) Embedded() bool { return c.Enabled && len(c.ExternalURIs) == 0 }

// External reports whether credentials are minted for an external server.
func (c Config) External() bool { return len(c.ExternalURIs) > 0 }

// Redacted returns a copy safe to print: the external secret is masked.
func (c Config) Redacted() Config {
	if c.ExternalSecret != "" {
		c.ExternalSecret = "********"
	}
	c.AllowPeers = append([]string(nil), c.AllowPeers...)
	c.ExternalURIs = append([]string(nil), c.ExternalURIs...)
	return c
}

// Validate reports every problem of the section at once, each naming its
// key with the "turn." prefix.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", keyPrefix, key, fmt.Sprintf(format, args...)))
	}
	for _, a := range []struct{ key, addr string }{{"udp_addr", c.UDPAddr}, {"tcp_addr", c.TCPAddr}, {"tls_addr", c.TLSAddr}} {
		if a.addr != "" && !validListenAddr(a.addr) {
			add(a.key, "must be host:port with a port from 0 to 65535, or empty to turn it off, got %q", a.addr)
		}
	}
	if c.Embedded() && c.UDPAddr == "" && c.TCPAddr == "" && c.TLSAddr == "" && !c.OnHTTPSPort {
		add("enabled", "the embedded relay needs at least one of udp_addr, tcp_addr, tls_addr or on_https_port")
	}
	if c.RelayIP != "" {
		if ip, err := netip.ParseAddr(c.RelayIP); err != nil || ip.IsUnspecified() || ip.IsMulticast() || ip.Zone() != "" {
			add("relay_ip", "must be a unicast IP address, got %q", c.RelayIP)
		}
	}
	c.validatePorts(add)
	for i, cidr := range c.AllowPeers {
		if _, err := netip.ParsePrefix(strings.TrimSpace(cidr)); err != nil {
			add(fmt.Sprintf("allow_peers[%d]", i), "must be a CIDR such as 127.0.0.0/8 or 2001:db8::1/128, got %q", cidr)
		}
	}
	ttl := time.Duration(c.CredentialTTL)
	if ttl < minCredentialTTL || ttl > maxCredentialTTL {
		add("credential_ttl", "must be from %s to %s (GetIceServerConfig reports whole seconds and clients need more than 30), got %s",
			minCredentialTTL, maxCredentialTTL, ttl)
	}
	if r := time.Duration(c.SecretRotation); r < ttl || r > maxSecretRotation || r%time.Second != 0 {
		add("secret_rotation", "must be whole seconds from turn.credential_ttl (%s) to %s, so that a credential outlives at most one change of key, got %s",
			ttl, maxSecretRotation, r)
	}
	if c.BandwidthBitsPerSecond < 0 {
		add("bandwidth_bits_per_second", "must be 0 (no cap) or positive, got %d", c.BandwidthBitsPerSecond)
	}
	if c.MaxAllocationsPerCredential < 0 {
		add("max_allocations_per_credential", "must be 0 (no cap) or positive, got %d", c.MaxAllocationsPerCredential)
	}
	if c.MaxAllocationsPerChannel < 0 {
		add("max_allocations_per_channel", "must be 0 (no cap) or positive, got %d", c.MaxAllocationsPerChannel)
	}
	if c.MaxAllocationsPerAccount < 0 {
		add("max_allocations_per_account", "must be 0 (no cap) or positive, got %d", c.MaxAllocationsPerAccount)
	}
	if c.MaxTCPConnections < 0 {
		add("max_tcp_connections", "must be 0 (no cap) or positive, got %d", c.MaxTCPConnections)
	}
	if c.MaxTCPConnectionsPerIP < 0 {
		add("max_tcp_connections_per_ip", "must be 0 (no cap) or positive, got %d", c.MaxTCPConnectionsPerIP)
	}
	if c.MaxPermissionsPerAllocation < 0 {
		add("max_permissions_per_allocation", "must be 0 (no cap) or positive, got %d", c.MaxPermissionsPerAllocation)
	}
	if c.MaxTCPConnectionsPerAllocation < 0 {
		add("max_tcp_connections_per_allocation", "must be 0 (no cap) or positive, got %d", c.MaxTCPConnectionsPerAllocation)
	}
	if c.UDPListeners < 1 || c.UDPListeners > maxUDPListeners {
		add("udp_listeners", "must be from 1 to %d, got %d", maxUDPListeners, c.UDPListeners)
	}
	if !(c.GetIceServerConfigPerSecond > 0) || math.IsInf(c.GetIceServerConfigPerSecond, 1) { // NaN fails the first test
		add("get_ice_server_config_per_second", "must be a positive number, got %v", c.GetIceServerConfigPerSecond)
	}
	if c.GetIceServerConfigBurst < 1 {
		add("get_ice_server_config_burst", "must be at least 1, got %d", c.GetIceServerConfigBurst)
	}
	if c.Realm == "" || strings.ContainsAny(c.Realm, "\"\\") || len(c.Realm) > 127 {
		add("realm", "must be 1 to 127 characters without quotes or backslashes, got %q", c.Realm)
	}
	c.validateExternal(add)
	return errors.Join(errs...)
}

func (c Config) validatePorts(add func(key, format string, args ...any)) {
	lo, hi := c.RelayPortMin, c.RelayPortMax
	switch {
	case lo == 0 && hi == 0:
	case lo < 1 || lo > 65535:
		add("relay_port_min", "must be from 1 to 65535 (or both bounds 0), got %d", lo)
	case hi < lo || hi > 65535:
		add("relay_port_max", "must be from relay_port_min (%d) to 65535, got %d", lo, hi)
	}
}

func (c Config) validateExternal(add func(key, format string, args ...any)) {
	if len(c.ExternalURIs) > maxExternalURIs {
		add("external_uris", "at most %d URIs fit in a GetIceServerConfig reply, got %d", maxExternalURIs, len(c.ExternalURIs))
	}
	needsSecret := false
	for i, uri := range c.ExternalURIs {
		scheme, _, _ := strings.Cut(uri, ":")
		switch scheme {
		case "turn", "turns":
			needsSecret = true
		case "stun", "stuns":
		default:
			add(fmt.Sprintf("external_uris[%d]", i), "must start with turn:, turns:, stun: or stuns:, got %q", uri)
			continue
		}
		if len(uri) > maxURILength || len(uri) <= len(scheme)+1 || strings.ContainsAny(uri, " \t\r\n\"") {
			add(fmt.Sprintf("external_uris[%d]", i), "must be a URI of at most %d characters with a host, got %q", maxURILength, uri)
		}
	}
	if needsSecret && c.ExternalSecret == "" {
		add("external_secret", "is required with turn: or turns: external_uris")
	}
	if c.ExternalSecret != "" && len(c.ExternalURIs) == 0 {
		add("external_secret", "is set but external_uris is empty")
	}
}

func validListenAddr(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

// Duration is a time.Duration written as a Go duration string ("5m").
type Duration time.Duration

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use a form like 300s or 5m)", text)
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
