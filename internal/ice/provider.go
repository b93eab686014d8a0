package ice

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Limits of KVS clients on a GetIceServerConfig reply (spec 5.1.2).
const (
	maxEntries      = 5
	maxURIsPerEntry = 4
)

// AdmitCall implements controlplane.IceServerProvider: it takes one call
// from the channel's GetIceServerConfig quota, before the channel is even
// looked up, so that a throttled caller costs no work.
func (s *Service) AdmitCall(account, channelARN string) error {
	if s.calls.Allow(account+"\x00"+channelARN, s.now()) {
		return nil
	}
	s.metrics.throttled.Inc()
	return kvsapi.Errorf(kvsapi.CodeClientLimitExceeded,
		"Too many GetIceServerConfig calls for this channel: the limit is %g per second with a burst of %d "+
			"(turn.get_ice_server_config_per_second, turn.get_ice_server_config_burst); retry later",
		s.cfg.GetIceServerConfigPerSecond, s.cfg.GetIceServerConfigBurst)
}

// IceServers implements controlplane.IceServerProvider: it mints a TURN
// credential scoped to the account, the channel and the client, and returns
// the ICE servers to use it with. Errors are *kvsapi.Error.
func (s *Service) IceServers(ctx context.Context, p auth.Principal, ch store.Channel, clientID string) ([]kvsapi.IceServer, error) {
	if ch.Status != kvsapi.ChannelStatusActive && ch.Status != kvsapi.ChannelStatusUpdating {
		return nil, kvsapi.Errorf(kvsapi.CodeResourceNotFound, "The channel is %s; ICE servers are given for ACTIVE channels only", ch.Status)
	}
	now := s.now()
	ttl := time.Duration(s.cfg.CredentialTTL)
	var (
		groups   [][]string
		secret   []byte
		username string
	)
	scope := newScope(p.Account, ch.ARN, clientID)
	switch {
	case s.cfg.External():
		groups, secret = externalGroups(s.cfg.ExternalURIs), []byte(s.cfg.ExternalSecret)
		username = mintUsername(now.Add(ttl), 0, scope)
	case s.cfg.Embedded():
		var err error
		if groups, err = s.embeddedGroups(ctx); err != nil {
			return nil, err
		}
		var keyStart int64
		if keyStart, secret, err = s.keys.mintKey(ctx); err != nil {
			s.log.Warn("turn: credential key unavailable", "err", err)
			return nil, kvsapi.Errorf(kvsapi.CodeServiceUnavailable, "TURN credentials are unavailable; retry later")
		}
		username = mintUsername(now.Add(ttl), keyStart, scope)
	default:
		return []kvsapi.IceServer{{Uris: []string{s.fallbackSTUN()}, Username: "stun-only", Password: "stun-only", Ttl: int(ttl / time.Second)}}, nil
	}
	password := turnPassword(secret, username)
	s.metrics.issued.Inc()
	out := make([]kvsapi.IceServer, 0, len(groups))
	for _, uris := range groups {
		out = append(out, kvsapi.IceServer{Uris: uris, Username: username, Password: password, Ttl: int(ttl / time.Second)})
	}
	return out, nil
}

// embeddedGroups lists the embedded relay's URIs: entry 0 holds every TURN
// URI (KVS C clients use entry 0 only), entry 1 the STUN URI.
func (s *Service) embeddedGroups(ctx context.Context) ([][]string, error) {
	addrs, err := s.boundAddrs(ctx)
	if err != nil {
		return nil, err
	}
	host := hostForURI(s.publicHostOnly())
	var turnURIs []string
	if addrs.UDP != nil {
		turnURIs = append(turnURIs, "turn:"+host+":"+portOf(addrs.UDP)+"?transport=udp")
	}
	if addrs.TCP != nil {
		turnURIs = append(turnURIs, "turn:"+host+":"+portOf(addrs.TCP)+"?transport=tcp")
	}
	if addrs.TLS != nil {
		turnURIs = append(turnURIs, "turns:"+host+":"+portOf(addrs.TLS)+"?transport=tcp")
	}
	if s.httpsQueue != nil {
		turnURIs = append(turnURIs, "turns:"+host+":"+s.httpsPort()+"?transport=tcp")
	}
	groups := [][]string{turnURIs}
	if addrs.UDP != nil {
		groups = append(groups, []string{"stun:" + host + ":" + portOf(addrs.UDP)})
	}
	return groups, nil
}

// boundAddrs returns the listener addresses, waiting for Run to bind them
// when a configured port is 0 (chosen by the system).
func (s *Service) boundAddrs(ctx context.Context) (Addrs, error) {
	select {
	case <-s.ready:
		return s.Addrs(), nil
	default:
	}
	configured := Addrs{UDP: staticAddr(s.cfg.UDPAddr), TCP: staticAddr(s.cfg.TCPAddr), TLS: staticAddr(s.cfg.TLSAddr)}
	if (s.cfg.UDPAddr == "" || configured.UDP != nil) && (s.cfg.TCPAddr == "" || configured.TCP != nil) &&
		(s.cfg.TLSAddr == "" || configured.TLS != nil) {
		return configured, nil
	}
	select {
	case <-s.ready:
		return s.Addrs(), nil
	case <-ctx.Done():
	case <-s.stopped:
	}
	return Addrs{}, kvsapi.Errorf(kvsapi.CodeServiceUnavailable, "The TURN server is not running; retry later")
}

// staticAddr is addr when its port is fixed, nil when it is empty or
// left to the system (port 0).
func staticAddr(addr string) net.Addr {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "0" {
		return nil
	}
	n, _ := strconv.Atoi(port)
	return &net.TCPAddr{IP: net.ParseIP(host), Port: n}
}

func portOf(addr net.Addr) string {
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "0"
	}
	return port
}

// publicHostOnly is the host clients reach the server by: the public
// host's host part, else the relay address.
func (s *Service) publicHostOnly() string {
	if s.deps.PublicHost == "" {
		return s.relayIP.String()
	}
	if host, _, err := net.SplitHostPort(s.deps.PublicHost); err == nil {
		return host
	}
	return strings.Trim(s.deps.PublicHost, "[]")
}

// httpsPort is the port of the HTTPS listener as clients see it: the
// public host's port, 443 when it has none (KVS endpoints carry no port).
func (s *Service) httpsPort() string {
	if _, port, err := net.SplitHostPort(s.deps.PublicHost); err == nil {
		return port
	}
	if s.deps.PublicHost == "" {
		return portOf(s.httpsQueue.Addr())
	}
	return "443"
}

// hostForURI brackets IPv6 literals.
func hostForURI(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// externalGroups orders an external server's URIs TURN first and cuts them
// into entries of at most four.
func externalGroups(uris []string) [][]string {
	ordered := make([]string, 0, len(uris))
	for _, pass := range []bool{true, false} {
		for _, u := range uris {
			if strings.HasPrefix(u, "turn") == pass {
				ordered = append(ordered, u)
			}
		}
	}
	var groups [][]string
	for len(ordered) > 0 && len(groups) < maxEntries {
		n := min(len(ordered), maxURIsPerEntry)
		groups = append(groups, ordered[:n:n])
		ordered = ordered[n:]
	}
	return groups
}

// fallbackSTUN is the STUN URI given when no TURN server is configured:
// the one KVS clients derive from the region themselves (spec 5.1.4), or
// this host's STUN port when no region is known.
func (s *Service) fallbackSTUN() string {
	region := s.deps.Region
	if region == "" {
		return "stun:" + hostForURI(s.publicHostOnly()) + ":3478"
	}
	domain := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		domain = "amazonaws.com.cn"
	}
	return "stun:stun.kinesisvideo." + region + "." + domain + ":443"
}

// iceServerProvider is controlplane.IceServerProvider, restated here
// because this package must not import the controlplane.
type iceServerProvider interface {
	AdmitCall(account, channelARN string) error
	IceServers(ctx context.Context, p auth.Principal, ch store.Channel, clientID string) ([]kvsapi.IceServer, error)
}

var _ iceServerProvider = (*Service)(nil)
