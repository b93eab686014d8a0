package ice

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/internal/ratelimit"
)

// SecretStore keeps named secrets across restarts; store.Store satisfies
// it. Secret returns the secret stored under name, storing generate()'s
// value first when there is none; DeleteSecret removes it.
type SecretStore interface {
	Secret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error)
	DeleteSecret(ctx context.Context, name string) error
}

// Deps are what a Service needs from the rest of the server.
type Deps struct {
	// Secrets keeps the HMAC secret of the embedded relay's credentials.
	Secrets SecretStore
	// TLS is the HTTPS certificate configuration, used for turns: (port
	// 5349 and, with on_https_port, the HTTPS port).
	TLS *tls.Config
	// PublicHost is the host[:port] clients use for HTTPS; its host part
	// goes into the turn: URIs, its port into the HTTPS-port turns: URI.
	PublicHost string
	// Region, when set, names the STUN URI given while no TURN server is
	// configured (the one KVS clients derive from the region).
	Region string
	// Logger receives the service's logs; discarded when nil.
	Logger *slog.Logger
	// Registerer receives the metrics; none are registered when nil.
	Registerer prometheus.Registerer
	// Now is the clock of credentials and rate limits; time.Now when nil.
	Now func() time.Time
}

// Addrs are the addresses the embedded server listens on; a nil field is a
// listener that is off.
type Addrs struct {
	UDP net.Addr
	TCP net.Addr
	TLS net.Addr
}

// Service is the STUN/TURN side of Switchboard: the embedded relay and the
// GetIceServerConfig provider.
type Service struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	policy  *policy
	quotas  *quotas
	calls   *ratelimit.Keyed // GetIceServerConfig calls by channel
	relayIP netip.Addr
	relays  *relays
	conns   *connSet
	// httpsQueue receives the TURN connections SplitTURN finds on the
	// HTTPS port; nil unless on_https_port and the embedded relay are on.
	httpsQueue *connQueue
	// handshakeTimeout bounds TLS handshakes, the classification of
	// HTTPS-port connections and their wait for pion to accept them.
	handshakeTimeout time.Duration
	// firstMessageTimeout is how long a stream connection has, from
	// pion's accept, to complete its first message.
	firstMessageTimeout time.Duration
	// anonymousIdle closes a stream connection silent for that long
	// while it has made no authenticated request; streamIdle once it has.
	anonymousIdle time.Duration
	streamIdle    time.Duration
	// permissionTimeout is how long pion keeps a permission that is not
	// refreshed; 0 leaves pion's default (5 minutes). Tests shorten it.
	permissionTimeout time.Duration
	// streams caps the live stream connections.
	streams *streamCaps
	// streamIndex finds a stream connection by its addresses when one of
	// its requests authenticates.
	streamIndex *streamIndex

	// keys holds the embedded relay's credential keys.
	keys *keyring

	started atomic.Bool
	ready   chan struct{}
	stopped chan struct{}
	mu      sync.Mutex
	addrs   Addrs
}

// New builds a Service from its configuration section. It validates the
// configuration and starts nothing.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if cfg.Embedded() {
		if deps.Secrets == nil {
			return nil, fmt.Errorf("%w: the embedded relay needs Deps.Secrets", ErrMissingDependency)
		}
		if (cfg.TLSAddr != "" || cfg.OnHTTPSPort) && deps.TLS == nil {
			return nil, fmt.Errorf("%w: turn.tls_addr and turn.on_https_port need Deps.TLS", ErrMissingDependency)
		}
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	log := deps.Logger.With("component", "turn")
	relayIP := chooseRelayIP(cfg.RelayIP, deps.PublicHost, interfaceIPs())
	bindIP := netip.IPv4Unspecified()
	if relayIP.Is6() {
		bindIP = netip.IPv6Unspecified()
	}
	if isLocal(relayIP, interfaceIPs()) {
		bindIP = relayIP
	}
	s := &Service{
		cfg: cfg, deps: deps, log: log, now: deps.Now, metrics: m,
		policy:              newPolicy(cfg.AllowPeers),
		quotas:              newQuotas(cfg.MaxAllocationsPerCredential, cfg.MaxAllocationsPerChannel, cfg.MaxAllocationsPerAccount),
		calls:               ratelimit.NewKeyed(ratelimit.Rule{Rate: cfg.GetIceServerConfigPerSecond, Burst: float64(cfg.GetIceServerConfigBurst)}),
		relayIP:             relayIP,
		keys:                newKeyring(deps.Secrets, time.Duration(cfg.SecretRotation), deps.Now, log),
		ready:               make(chan struct{}),
		handshakeTimeout:    defaultHandshakeTimeout,
		firstMessageTimeout: defaultFirstMessageTimeout,
		anonymousIdle:       defaultAnonymousIdle,
		streamIdle:          defaultStreamIdle,
		streams:             newStreamCaps(cfg.MaxTCPConnections, cfg.MaxTCPConnectionsPerIP),
		streamIndex:         newStreamIndex(),
		stopped:             make(chan struct{}),
	}
	s.policy.relay = relayIP
	s.relays = newRelays(relayIP, bindIP, cfg, s.policy, s.quotas, m, log, deps.Now)
	s.relays.validUntil = s.keys.validUntil
	s.conns = newConnSet(s.relays.track)
	if cfg.Embedded() && cfg.OnHTTPSPort {
		s.httpsQueue = newConnQueue(&net.TCPAddr{})
	}
	return s, nil
}

// Ready is closed once Run serves (at once when the embedded relay is off).
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Addrs returns the bound listener addresses once Ready is closed (ports
// chosen by the system included).
func (s *Service) Addrs() Addrs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs
}

// RelayIP returns the address advertised in relayed candidates.
func (s *Service) RelayIP() netip.Addr { return s.relayIP }

// Run starts the listeners, serves until ctx ends, then closes them and
// every TURN connection and allocation, and returns once the work it
// started has ended. Without the embedded relay it only waits for ctx.
// Run may be called once.
func (s *Service) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("ice: Run called twice")
	}
	defer close(s.stopped)
	if !s.cfg.Embedded() {
		close(s.ready)
		<-ctx.Done()
		return nil
	}
	if err := s.keys.refresh(ctx); err != nil {
		return fmt.Errorf("ice: TURN credential keys: %w", err)
	}
	s.policy.own = ownAddresses(s.relayIP, interfaceIPs())
	s.checkFileLimit(openFileLimit())
	srv, err := s.start(ctx)
	if err != nil {
		return err
	}
	addrs := s.Addrs()
	s.log.Info("turn: serving", "udp", addrString(addrs.UDP), "tcp", addrString(addrs.TCP), "tls", addrString(addrs.TLS),
		"https_port", s.httpsQueue != nil, "relay_ip", s.relayIP.String(), "udp_listeners", s.cfg.UDPListeners)
	close(s.ready)
	<-ctx.Done()
	return srv.shutdown()
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

// chooseRelayIP picks the advertised relay address: the configured one;
// else the public host when it is an IPv4 literal; else the first
// non-loopback IPv4 address of the machine; else an IPv6 public host; else
// 127.0.0.1.
func chooseRelayIP(configured, publicHost string, ifaces []netip.Addr) netip.Addr {
	if ip, err := netip.ParseAddr(configured); err == nil {
		return ip.Unmap()
	}
	host := publicHost
	if h, _, err := net.SplitHostPort(publicHost); err == nil {
		host = h
	}
	literal, err := netip.ParseAddr(host)
	if err == nil && literal.Unmap().Is4() && !literal.IsUnspecified() {
		return literal.Unmap()
	}
	for _, ip := range ifaces {
		if ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
			return ip
		}
	}
	if err == nil && !literal.IsUnspecified() {
		return literal
	}
	return netip.MustParseAddr("127.0.0.1")
}

// interfaceIPs lists the machine's unicast interface addresses.
func interfaceIPs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

func isLocal(ip netip.Addr, ifaces []netip.Addr) bool {
	for _, a := range ifaces {
		if a == ip {
			return true
		}
	}
	return ip.IsLoopback()
}

// ownAddresses are the addresses a peer could use to reach this machine's
// own services through the relay.
func ownAddresses(relayIP netip.Addr, ifaces []netip.Addr) map[netip.Addr]struct{} {
	own := map[netip.Addr]struct{}{relayIP: {}}
	for _, a := range ifaces {
		own[a.WithZone("")] = struct{}{}
	}
	return own
}

// fileHeadroom is what checkFileLimit allows for the descriptors the
// server needs besides TURN stream connections: listeners, relay sockets,
// signaling and HTTPS connections, the database, logs. A rough figure: it
// only decides whether to warn.
const fileHeadroom = 1024

// checkFileLimit warns when the open-file limit (soft, known) cannot hold
// turn.max_tcp_connections stream connections plus fileHeadroom. Past the
// limit, accepting fails with EMFILE for every listener of the process,
// HTTPS included, well before the cap refuses anything.
func (s *Service) checkFileLimit(soft uint64, known bool) {
	streams := s.cfg.TCPAddr != "" || s.cfg.TLSAddr != "" || s.cfg.OnHTTPSPort
	if !known || !streams || s.cfg.MaxTCPConnections <= 0 {
		return
	}
	need := uint64(s.cfg.MaxTCPConnections) + fileHeadroom //nolint:gosec // positive, checked above
	if need <= soft {
		return
	}
	s.log.Warn("turn: the open-file limit is below what turn.max_tcp_connections allows; raise the limit (ulimit -n, systemd LimitNOFILE) or lower the setting",
		"max_tcp_connections", s.cfg.MaxTCPConnections, "open_file_limit", soft, "needed", need)
}
