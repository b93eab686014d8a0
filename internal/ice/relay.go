package ice

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// connectTimeout bounds an RFC 6062 Connect to a peer (the RFC asks for at
// least 30 seconds).
const connectTimeout = 30 * time.Second

// relays is the state shared by every relay socket of a Service: where to
// bind, what to advertise, the policy and quotas, and the live relay ports.
type relays struct {
	advertised netip.Addr // relay address told to clients
	bindIP     netip.Addr // address relay sockets bind to (may be unspecified)
	portMin    int
	portMax    int
	bandwidth  int64 // bits per second per direction; 0: no cap
	// tcpConnsPerAlloc caps the peer connections of one TCP relay; 0: no
	// cap.
	tcpConnsPerAlloc int
	// permissionsPerAlloc caps the peers one allocation holds a
	// permission for; 0: no cap.
	permissionsPerAlloc int

	policy  *policy
	quotas  *quotas
	metrics *metrics
	log     *slog.Logger
	now     func() time.Time
	track   *tracker
	// validUntil is when a credential stops being accepted (see
	// keyring.validUntil); an allocation ends then.
	validUntil func(credential) time.Time

	flows        struct{ udpOut, udpIn, tcpOut, tcpIn flow }
	bandwidthCut prometheus.Counter // refusals{reason="bandwidth"}, one per dropped datagram
	sendErrors   prometheus.Counter // refusals{reason="send_error"}, one per datagram a relay socket failed to send

	mu       sync.Mutex
	udpPorts map[uint16]*relayAlloc
	tcpPorts map[uint16]*relayAlloc
	// byClient finds an allocation from the client address pion gives
	// the PermissionHandler.
	byClient map[clientKey]*relayAlloc
}

// clientKey names an allocation as pion's PermissionHandler sees it: the
// listener (each has its own allocator and pion allocation manager) and
// the client's address on it.
type clientKey struct {
	listener *allocator
	client   string
}

func newRelays(advertised, bindIP netip.Addr, cfg Config, pol *policy, q *quotas, m *metrics, log *slog.Logger, now func() time.Time) *relays {
	r := &relays{
		advertised: advertised, bindIP: bindIP,
		portMin: cfg.RelayPortMin, portMax: cfg.RelayPortMax, bandwidth: cfg.BandwidthBitsPerSecond,
		tcpConnsPerAlloc: cfg.MaxTCPConnectionsPerAllocation, permissionsPerAlloc: cfg.MaxPermissionsPerAllocation,
		byClient: map[clientKey]*relayAlloc{},
		policy:   pol, quotas: q, metrics: m, log: log, now: now, track: newTracker(),
		udpPorts: map[uint16]*relayAlloc{}, tcpPorts: map[uint16]*relayAlloc{},
	}
	r.flows.udpOut, r.flows.udpIn = m.flow(relayUDP, toPeer), m.flow(relayUDP, fromPeer)
	r.flows.tcpOut, r.flows.tcpIn = m.flow(relayTCP, toPeer), m.flow(relayTCP, fromPeer)
	r.bandwidthCut = m.refusals.WithLabelValues(reasonBandwidth)
	r.sendErrors = m.refusals.WithLabelValues(reasonSendError)
	pol.isRelayPort = r.isRelayPort
	return r
}

// isRelayPort reports whether port is a live relay port of network.
func (r *relays) isRelayPort(network string, port uint16) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if network == relayTCP {
		_, ok := r.tcpPorts[port]
		return ok
	}
	_, ok := r.udpPorts[port]
	return ok
}

// refuse counts and logs a refusal.
func (r *relays) refuse(reason string, attrs ...any) {
	r.metrics.refusals.WithLabelValues(reason).Inc()
	r.log.Debug("turn: refused", append([]any{"reason", reason}, attrs...)...)
}

// permit is the pion PermissionHandler: it decides CreatePermission,
// ChannelBind and Connect on the peer IP.
func (r *relays) permit(client net.Addr, peer net.IP) bool {
	if reason := r.policy.checkIP(peer); reason != "" {
		r.refuse("peer_"+reason, "client", client.String(), "peer", peer.String())
		return false
	}
	return true
}

// permit is the pion PermissionHandler of the allocator's listener: it
// decides CreatePermission, ChannelBind and Connect on the peer policy,
// then on the allocation's permission cap. A peer the allocation has a
// permission for already passes the cap, so refreshes keep working.
func (a *allocator) permit(client net.Addr, peer net.IP) bool {
	if !a.relays.permit(client, peer) {
		return false
	}
	alloc := a.allocationOf(client)
	if alloc == nil || alloc.roomForPeer(peer) {
		return true
	}
	a.refuse(reasonPermissionsPerAllocation, "user", alloc.cred.Username, "client", client.String(), "peer", peer.String(),
		"limit", a.permissionsPerAlloc, "setting", "turn.max_permissions_per_allocation")
	return false
}

// allocationOf returns the allocation of a client of this listener, nil
// when there is none.
func (a *allocator) allocationOf(client net.Addr) *relayAlloc {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byClient[clientKey{listener: a, client: client.String()}]
}

// allocationCreated records which client of which listener owns the
// allocation at relayAddr; pion reports it (EventHandler) before it
// answers the Allocate, so before any CreatePermission.
func (r *relays) allocationCreated(client, relayAddr net.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	alloc := r.allocAtLocked(relayAddr)
	if alloc == nil {
		return
	}
	alloc.clientKey = clientKey{listener: alloc.owner, client: client.String()}
	r.byClient[alloc.clientKey] = alloc
}

// allocAtLocked returns the allocation whose relay address is relayAddr.
func (r *relays) allocAtLocked(relayAddr net.Addr) *relayAlloc {
	switch a := relayAddr.(type) {
	case *net.UDPAddr:
		return r.udpPorts[uint16(a.Port)] //nolint:gosec // a UDP port
	case *net.TCPAddr:
		return r.tcpPorts[uint16(a.Port)] //nolint:gosec // a TCP port
	}
	return nil
}

// allocator is the pion RelayAddressGenerator of one listener; it knows
// the listener's transport for the metrics and, for a UDP listener read in
// batches, that listener, which its relay sockets batch through.
type allocator struct {
	*relays
	transport string
	listener  *batchConn
}

var _ turn.RelayAddressGenerator = (*allocator)(nil)

// Validate implements turn.RelayAddressGenerator.
func (a *allocator) Validate() error { return nil }

// family checks that the relay can serve network ("udp4", "tcp6", ...).
func (r *relays) family(network string) error {
	want6 := len(network) > 0 && network[len(network)-1] == '6'
	if r.advertised.Is6() != want6 {
		return fmt.Errorf("%w: %s with relay address %s", ErrRelayFamily, network, r.advertised)
	}
	return nil
}

// candidatePorts returns the ports to try: a requested port, else 0
// (system's choice) when no range is configured, else random ports of the
// range. A requested port must lie in the range: pion asks for the port
// after a reserved even one (EVEN-PORT, RESERVATION-TOKEN), which can be
// one past the range the operator opened in the firewall.
func (r *relays) candidatePorts(requested int) ([]int, error) {
	ranged := r.portMin != 0 || r.portMax != 0
	if requested != 0 {
		if ranged && (requested < r.portMin || requested > r.portMax) {
			return nil, fmt.Errorf("%w: port %d requested, outside %d-%d", ErrNoRelayPort, requested, r.portMin, r.portMax)
		}
		return []int{requested}, nil
	}
	if !ranged {
		return []int{0, 0, 0}, nil
	}
	size := r.portMax - r.portMin + 1
	ports := make([]int, min(size, 64))
	for i := range ports {
		ports[i] = r.portMin + rand.IntN(size) //nolint:gosec // port choice needs no cryptographic randomness
	}
	return ports, nil
}

func (r *relays) bindHost() string {
	if r.bindIP.IsValid() && !r.bindIP.IsUnspecified() {
		return r.bindIP.String()
	}
	if r.advertised.Is6() {
		return "::"
	}
	return "0.0.0.0"
}

// AllocatePacketConn opens the UDP relay socket of an allocation.
func (a *allocator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if err := a.family(conf.Network); err != nil {
		return nil, nil, err
	}
	if conf.UserID == "" { // pion probing for a free even port (EVEN-PORT)
		return a.listenUDP(conf.Network, conf.RequestedPort)
	}
	cred, release, err := a.admit(conf)
	if err != nil {
		return nil, nil, err
	}
	conn, addr, err := a.listenUDP(conf.Network, conf.RequestedPort)
	if err != nil {
		release()
		return nil, nil, err
	}
	port := uint16(addr.Port) //nolint:gosec // a bound UDP port
	reader, toClient := a.listener.relayReader(conn)
	alloc := a.newAlloc(cred, relayUDP, port, release, reader.Close)
	toClient.attach(alloc)
	a.mu.Lock()
	a.udpPorts[port] = alloc
	a.mu.Unlock()
	return &relayPacketConn{PacketConn: reader, alloc: alloc, sender: a.listener.newSender(conn, alloc)}, addr, nil
}

// admit reads the credential of an allocation request and takes its
// quota slot; release gives the slot back.
func (a *allocator) admit(conf turn.AllocateListenerConfig) (cred credential, release func(), err error) {
	cred, err = parseUsername(conf.UserID)
	if err != nil {
		return cred, nil, err
	}
	release, err = a.acquire(cred)
	return cred, release, err
}

// acquire takes a quota slot for cred, counting and logging a refusal.
func (r *relays) acquire(cred credential) (func(), error) {
	release, reason := r.quotas.acquire(cred)
	if reason != "" {
		r.refuseQuota(reason, cred.Username)
		return nil, fmt.Errorf("%w: %s (%s)", ErrQuota, reason, quotaSettings[reason])
	}
	return release, nil
}

// refuseQuota counts and logs an allocation refused by quota, naming the
// setting and its value so that an operator knows which cap to raise.
func (r *relays) refuseQuota(reason, user string, attrs ...any) {
	r.refuse(reason, append([]any{"user", user, "limit", r.quotas.limit(reason), "setting", quotaSettings[reason]}, attrs...)...)
}

func (r *relays) listenUDP(network string, requested int) (net.PacketConn, *net.UDPAddr, error) {
	ports, err := r.candidatePorts(requested)
	if err != nil {
		return nil, nil, err
	}
	var lastErr error
	for _, port := range ports {
		conn, err := net.ListenPacket(network, net.JoinHostPort(r.bindHost(), strconv.Itoa(port)))
		if err != nil {
			lastErr = err
			continue
		}
		bound := conn.LocalAddr().(*net.UDPAddr) //nolint:forcetypeassert // a UDP socket
		return conn, &net.UDPAddr{IP: r.advertised.AsSlice(), Port: bound.Port}, nil
	}
	return nil, nil, fmt.Errorf("%w: %w", ErrNoRelayPort, lastErr)
}

// AllocateListener opens the TCP relay listener of an allocation
// (RFC 6062). A client on UDP is refused, as the RFC asks: its Connect
// requests would be dialled from the UDP listener's one read loop, which
// would serve no other client while a dial waits.
func (a *allocator) AllocateListener(conf turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	if a.transport == transportUDP {
		return nil, nil, ErrTCPRelayOverUDP
	}
	if err := a.family(conf.Network); err != nil {
		return nil, nil, err
	}
	cred, release, err := a.admit(conf)
	if err != nil {
		return nil, nil, err
	}
	ln, port, err := a.listenTCP(conf.Network, conf.RequestedPort)
	if err != nil {
		release()
		return nil, nil, err
	}
	alloc := a.newAlloc(cred, relayTCP, port, release, ln.Close)
	a.mu.Lock()
	a.tcpPorts[port] = alloc
	a.mu.Unlock()
	return &relayListener{Listener: ln, alloc: alloc}, &net.TCPAddr{IP: a.advertised.AsSlice(), Port: int(port)}, nil
}

// listenTCP binds a relay listener with SO_REUSEPORT (Connect dials from
// the same port), making sure no other relay of ours holds that port.
func (r *relays) listenTCP(network string, requested int) (net.Listener, uint16, error) {
	ports, err := r.candidatePorts(requested)
	if err != nil {
		return nil, 0, err
	}
	lc := net.ListenConfig{Control: reusePortControl}
	var lastErr error
	for _, port := range ports {
		ln, err := lc.Listen(context.Background(), network, net.JoinHostPort(r.bindHost(), strconv.Itoa(port)))
		if err != nil {
			lastErr = err
			continue
		}
		bound := uint16(ln.Addr().(*net.TCPAddr).Port) //nolint:gosec,forcetypeassert // a bound TCP port
		r.mu.Lock()
		_, taken := r.tcpPorts[bound]
		if !taken {
			r.tcpPorts[bound] = nil // reserved until the allocation is recorded
		}
		r.mu.Unlock()
		if taken {
			_ = ln.Close()
			lastErr = fmt.Errorf("port %d is another relay's", bound)
			continue
		}
		return ln, bound, nil
	}
	return nil, 0, fmt.Errorf("%w: %w", ErrNoRelayPort, lastErr)
}

// AllocateConn dials a peer for an RFC 6062 Connect request, from the
// allocation's relay port, after checking the peer's full address.
func (a *allocator) AllocateConn(conf turn.AllocateConnConfig) (net.Conn, error) {
	local, okLocal := addrPortOf(conf.LocalAddr)
	remote, okRemote := addrPortOf(conf.RemoteAddr)
	if !okLocal || !okRemote {
		return nil, fmt.Errorf("%w: unusable Connect addresses %v -> %v", ErrPeerRefused, conf.LocalAddr, conf.RemoteAddr)
	}
	a.mu.Lock()
	alloc := a.tcpPorts[local.Port()]
	a.mu.Unlock()
	if alloc == nil {
		return nil, fmt.Errorf("ice: no TCP relay on port %d", local.Port())
	}
	if reason := a.policy.checkAddrPort(relayTCP, remote); reason != "" {
		a.refuse("peer_"+reason, "user", conf.UserID, "peer", remote.String(), "method", "Connect")
		return nil, fmt.Errorf("%w: %s (%s)", ErrPeerRefused, remote, reason)
	}
	// Checked again when the connection is registered; checking here
	// first spares a dial whose connection would be closed at once.
	if alloc.full() {
		a.refuseConnOverCap(alloc, remote.String(), "Connect")
		return nil, fmt.Errorf("%w: %d peer connections", ErrTCPConnLimit, a.tcpConnsPerAlloc)
	}
	d := net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(a.bindHost()), Port: int(local.Port())},
		Control:   reusePortControl,
		Timeout:   connectTimeout,
	}
	conn, err := d.DialContext(alloc.ctx, conf.Network, remote.String())
	if err != nil {
		return nil, err
	}
	wrapped, ok := alloc.wrapConn(conn)
	if !ok {
		a.refuseConnOverCap(alloc, remote.String(), "Connect")
		return nil, fmt.Errorf("%w: %d peer connections", ErrTCPConnLimit, a.tcpConnsPerAlloc)
	}
	return wrapped, nil
}

// refuseConnOverCap counts and logs a peer connection refused by
// turn.max_tcp_connections_per_allocation.
func (r *relays) refuseConnOverCap(alloc *relayAlloc, peer, method string) {
	r.refuse(reasonTCPConnsPerAllocation, "user", alloc.cred.Username, "peer", peer, "method", method,
		"limit", r.tcpConnsPerAlloc, "setting", "turn.max_tcp_connections_per_allocation")
}

// peerPermission records that the client of the relay at relayAddr
// created (on) or lost (off) its permission for peer: pion reports both
// (EventHandler). A UDP relay then knows which peers' datagrams it will
// pass on, before it charges or counts them, and every relay how many
// peers it holds a permission for.
func (r *relays) peerPermission(relayAddr net.Addr, peer net.IP, on bool) {
	ip, ok := netip.AddrFromSlice(peer)
	if !ok {
		return
	}
	r.mu.Lock()
	alloc := r.allocAtLocked(relayAddr)
	r.mu.Unlock()
	if alloc != nil {
		alloc.setPeerPermission(ip.Unmap(), on)
	}
}

// forgetPort removes a closed allocation's relay port, unless a newer
// allocation holds it already: the port is free from the moment the old
// socket closes, before this runs.
func (r *relays) forgetPort(a *relayAlloc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ports := r.udpPorts
	if a.relay == relayTCP {
		ports = r.tcpPorts
	}
	if ports[a.port] == a {
		delete(ports, a.port)
	}
	if r.byClient[a.clientKey] == a {
		delete(r.byClient, a.clientKey)
	}
}
