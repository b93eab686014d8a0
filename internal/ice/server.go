package ice

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/turn/v5"
)

// shutdownWait bounds how long Run waits, after closing everything, for
// pion's goroutines to notice.
const shutdownWait = 5 * time.Second

// Reasons a credential is refused.
const (
	credMalformed   = "malformed"
	credExpired     = "expired"
	credBadPassword = "bad_password"
	// credRetiredKey refuses a credential whose key is out of service
	// (see keyring.go), or whose key this node has not loaded.
	credRetiredKey = "retired_key"
)

// running is one started embedded server.
type running struct {
	svc      *Service
	server   *turn.Server
	closers  []func() error // listeners pion does not own
	cancel   context.CancelFunc
	handlers sync.WaitGroup // TLS acceptor and handshakes
}

// start opens the listeners and starts pion on them.
func (s *Service) start(ctx context.Context) (_ *running, err error) {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &running{svc: s, cancel: cancel}
	var (
		packetConfigs []turn.PacketConnConfig
		listeners     []turn.ListenerConfig
		addrs         Addrs
	)
	defer func() {
		if err != nil {
			closeListeners(packetConfigs, listeners)
			r.closeOwn()
			cancel()
			r.handlers.Wait()
		}
	}()
	if s.cfg.UDPAddr != "" {
		if packetConfigs, addrs.UDP, err = s.udpConfigs(ctx); err != nil {
			return nil, err
		}
	}
	if s.cfg.TCPAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.TCPAddr)
		if err != nil {
			return nil, fmt.Errorf("ice: turn.tcp_addr: %w", err)
		}
		addrs.TCP = ln.Addr()
		listeners = append(listeners, s.listenerConfig(ln, transportTCP, s.acceptTCP))
	}
	if s.cfg.TLSAddr != "" {
		raw, err := net.Listen("tcp", s.cfg.TLSAddr)
		if err != nil {
			return nil, fmt.Errorf("ice: turn.tls_addr: %w", err)
		}
		addrs.TLS = raw.Addr()
		queue := newConnQueue(raw.Addr())
		r.closers = append(r.closers, raw.Close)
		listeners = append(listeners, s.listenerConfig(queue, transportTLS, nil))
		r.serveTLS(runCtx, raw, queue)
	}
	if s.httpsQueue != nil {
		listeners = append(listeners, s.listenerConfig(s.httpsQueue, transportHTTPS, nil))
	}
	r.server, err = turn.NewServer(s.serverConfig(packetConfigs, listeners))
	if err != nil {
		return nil, fmt.Errorf("ice: start TURN server: %w", err)
	}
	r.handlers.Add(1)
	go func() {
		defer r.handlers.Done()
		s.keys.run(runCtx)
	}()
	s.mu.Lock()
	s.addrs = addrs
	s.mu.Unlock()
	return r, nil
}

// udpConfigs opens the UDP listeners, each served by its own pion read
// loop. Each is read in batches, and the relay sockets of its allocations
// send through its batch; they are read in batches too, and the
// listener's writes to their clients go through theirs (see batchConn).
func (s *Service) udpConfigs(ctx context.Context) ([]turn.PacketConnConfig, net.Addr, error) {
	conns, err := listenUDP(ctx, s.cfg.UDPAddr, s.cfg.UDPListeners)
	if err != nil {
		return nil, nil, fmt.Errorf("ice: turn.udp_addr: %w", err)
	}
	configs := make([]turn.PacketConnConfig, 0, len(conns))
	for _, c := range conns {
		pc, listener := newBatchConn(c, s.relays)
		gen := &allocator{relays: s.relays, transport: transportUDP, listener: listener}
		configs = append(configs, turn.PacketConnConfig{
			PacketConn:            &trackedPacketConn{PacketConn: pc, done: s.relays.track.start()},
			RelayAddressGenerator: gen,
			PermissionHandler:     gen.permit,
		})
	}
	return configs, conns[0].LocalAddr(), nil
}

// listenerConfig serves a stream listener (TCP, TLS queue, HTTPS queue).
func (s *Service) listenerConfig(ln net.Listener, transport string, wrap func(net.Conn) net.Conn) turn.ListenerConfig {
	gen := &allocator{relays: s.relays, transport: transport}
	return turn.ListenerConfig{
		Listener:              newTrackedListener(ln, s.relays.track.start(), wrap, s.log),
		RelayAddressGenerator: gen,
		PermissionHandler:     gen.permit,
	}
}

func (s *Service) serverConfig(packets []turn.PacketConnConfig, listeners []turn.ListenerConfig) turn.ServerConfig {
	return turn.ServerConfig{
		PacketConnConfigs: packets,
		ListenerConfigs:   listeners,
		LoggerFactory:     pionLoggers{log: s.log},
		Realm:             s.cfg.Realm,
		// An Allocate without REQUESTED-ADDRESS-FAMILY asks for IPv4
		// (RFC 8656 7.2), also from a client that reached a dual-stack
		// listener over IPv6, when the relay address is IPv4; pion would
		// otherwise ask the listener's family and the allocation would
		// fail (508). With an IPv6 relay address pion's default, the
		// listener's family, stays.
		StrictAddressFamily: s.RelayIP().Is4(),
		PermissionTimeout:   s.permissionTimeout,
		AuthHandler:         s.authHandler,
		QuotaHandler:        s.allowAllocation,
		EventHandler: turn.EventHandler{
			// pion reports here every request that carried credentials,
			// after checking them (verdict). A stream connection that made
			// one with valid credentials earns the long idle timeout.
			OnAuth: func(src, dst net.Addr, _, username, _, method string, verdict bool) {
				if !verdict {
					s.credentialFailure(credBadPassword, username, src, method)
					return
				}
				s.streamIndex.authenticated(src, dst)
			},
			OnAllocationCreated: func(src, _ net.Addr, _, _, _ string, relayAddr net.Addr, _ int) {
				s.relays.allocationCreated(src, relayAddr)
			},
			OnPermissionCreated: func(_, _ net.Addr, _, _, _ string, relayAddr net.Addr, peer net.IP) {
				s.metrics.permissions.Inc()
				s.relays.peerPermission(relayAddr, peer, true)
			},
			OnPermissionDeleted: func(_, _ net.Addr, _, _, _ string, relayAddr net.Addr, peer net.IP) {
				s.relays.peerPermission(relayAddr, peer, false)
			},
			OnAllocationError: s.requestFailed,
		},
	}
}

// serveTLS accepts TURN/TLS connections and completes their handshake
// before queueing them for pion. The connection caps apply from the
// accept, so that stalled handshakes count too.
func (r *running) serveTLS(ctx context.Context, raw net.Listener, queue *connQueue) {
	cfg := r.svc.deps.TLS.Clone()
	// No ALPN list: a TURN client offering any protocol (or none) is served.
	cfg.NextProtos = nil
	r.handlers.Add(1)
	go func() {
		defer r.handlers.Done()
		acceptLoop(raw, r.svc.log, ctx.Done(), func(c net.Conn) {
			release, ok := r.svc.admitStream(c, transportTLS)
			if !ok {
				return
			}
			r.handlers.Add(1)
			go func() {
				defer r.handlers.Done()
				r.handshakeAndQueue(ctx, c, cfg, queue, release)
			}()
		})
	}()
}

// handshakeAndQueue completes the TLS handshake of an admitted connection
// and hands it to pion; a failed handshake gives the slot back.
func (r *running) handshakeAndQueue(ctx context.Context, c net.Conn, cfg *tls.Config, queue *connQueue, release func()) {
	tc, err := handshakeTLS(ctx, c, cfg, r.svc.handshakeTimeout)
	if err != nil {
		release()
		r.svc.log.Debug("turn: TLS handshake failed", "client", c.RemoteAddr().String(), "err", err)
		return
	}
	queue.push(r.svc.serveStream(tc, release), r.svc.handshakeTimeout)
}

// authHandler verifies TURN REST usernames: well formed, not expired,
// signed with a key still in service, and the key derived from the
// password this server would have minted. The user id given to pion is the
// whole username, so that quotas and relays know the credential's expiry
// and channel.
func (s *Service) authHandler(ra *turn.RequestAttributes) (string, []byte, bool) {
	cred, err := parseUsername(ra.Username)
	if err != nil {
		s.credentialFailure(credMalformed, ra.Username, ra.SrcAddr, ra.Method.String())
		return "", nil, false
	}
	if !s.now().Before(cred.Expiry) {
		s.credentialFailure(credExpired, ra.Username, ra.SrcAddr, ra.Method.String())
		return "", nil, false
	}
	secret, ok := s.keys.verifyKey(cred)
	if !ok {
		s.credentialFailure(credRetiredKey, ra.Username, ra.SrcAddr, ra.Method.String())
		return "", nil, false
	}
	return ra.Username, turn.GenerateAuthKey(ra.Username, ra.Realm, turnPassword(secret, ra.Username)), true
}

func (s *Service) credentialFailure(reason, username string, src net.Addr, method string) {
	s.metrics.credFailures.WithLabelValues(reason).Inc()
	s.log.Debug("turn: credential refused", "reason", reason, "user", username, "client", addrString(src), "method", method)
}

// pionRefusals names the refusals pion makes on its own, by the text of
// its (unexported) errors: a Send to a peer without permission, and a peer
// of the other address family.
var pionRefusals = []struct{ text, reason string }{
	{"no permission", "peer_no_permission"},
	{"peer address family does not match", "peer_family_mismatch"},
}

// pionNoSuchUser is the text of pion's error for a username that
// authHandler refused; the username, the client's own text, follows it.
const pionNoSuchUser = "no such user exists"

// requestFailed counts the requests pion refused by itself. What follows
// a refused username is not searched: a client could name any refusal in
// it.
func (s *Service) requestFailed(src, _ net.Addr, _, message string) {
	if i := strings.Index(message, pionNoSuchUser); i >= 0 {
		message = message[:i]
	}
	for _, r := range pionRefusals {
		if strings.Contains(message, r.text) {
			s.relays.refuse(r.reason, "client", addrString(src), "detail", message)
			return
		}
	}
}

// allowAllocation is the pion QuotaHandler: a refusal answers 486
// Allocation Quota Reached.
func (s *Service) allowAllocation(userID, _ string, src net.Addr) bool {
	cred, err := parseUsername(userID)
	if err != nil {
		return false
	}
	if reason := s.quotas.check(cred); reason != "" {
		s.relays.refuseQuota(reason, userID, "client", addrString(src))
		return false
	}
	return true
}

// shutdown closes the listeners, every TURN connection and (through pion)
// every allocation, then waits for the work to end.
func (r *running) shutdown() error {
	err := r.server.Close()
	r.closeOwn()
	r.cancel()
	r.svc.conns.closeAll()
	r.handlers.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	if left := r.svc.relays.track.wait(ctx); left > 0 {
		r.svc.log.Warn("turn: shutdown left work running", "count", left)
	}
	r.svc.log.Info("turn: stopped")
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("ice: close TURN server: %w", err)
	}
	return nil
}

func (r *running) closeOwn() {
	for _, c := range r.closers {
		_ = c()
	}
}

func closeListeners(packets []turn.PacketConnConfig, listeners []turn.ListenerConfig) {
	for _, p := range packets {
		_ = p.PacketConn.Close()
	}
	for _, l := range listeners {
		_ = l.Listener.Close()
	}
}

// trackedListener is what pion accepts stream connections from. pion
// v5.1.3 ends its accept loop for good on the first Accept error, so
// Accept waits out the failures that pass (see acceptNext) and fails only
// once the listener is closed or broken, which is also when it marks
// pion's loop ended. It passes accepted connections through wrap when that
// is set, and starts their first-message window.
type trackedListener struct {
	net.Listener
	done func()
	// wrap admits and prepares a connection; nil means it refused (and
	// closed) it, which must not become an Accept error either.
	wrap func(net.Conn) net.Conn
	log  *slog.Logger

	closed    chan struct{} // closed by Close, to cut a backoff short
	closeOnce sync.Once
}

func newTrackedListener(ln net.Listener, done func(), wrap func(net.Conn) net.Conn, log *slog.Logger) *trackedListener {
	return &trackedListener{Listener: ln, done: done, wrap: wrap, log: log, closed: make(chan struct{})}
}

// acceptNotifier is a connection that wants to know when pion accepts it.
type acceptNotifier interface{ accepted() }

// Accept returns the next connection wrap admits.
func (l *trackedListener) Accept() (net.Conn, error) {
	for {
		c, err := acceptNext(l.Listener, l.log, l.closed)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.log.Warn("turn: listener failed, no longer accepting", "addr", l.Addr().String(), "err", err)
			}
			l.done()
			return nil, err
		}
		if l.wrap != nil {
			if c = l.wrap(c); c == nil {
				continue
			}
		}
		if n, ok := c.(acceptNotifier); ok {
			n.accepted()
		}
		return c, nil
	}
}

// Close closes the listener, ending Accept even in the middle of a
// backoff.
func (l *trackedListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}
