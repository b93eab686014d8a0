package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// ICE timings of the peers' connections. They are shorter than pion's
// defaults (5 s, 25 s, 2 s) so that a vanished peer is noticed, and its
// PeerConnection freed or replaced, within a few seconds.
const (
	iceDisconnectedTimeout = 3 * time.Second
	iceFailedTimeout       = 4 * time.Second
	iceKeepaliveInterval   = time.Second
	// iceRefreshGrace: TURN credentials are fetched again this long before
	// their Ttl runs out, as the KVS C SDK does (spec 5.1.2), but never
	// earlier than half way through it, so that short lifetimes do not
	// turn into a fetch (and a viewer's ICE restart) every second.
	iceRefreshGrace = 30 * time.Second
)

// ICEConfig chooses the ICE servers and candidates of a Master or a
// Viewer. The zero value uses every TURN server GetIceServerConfig
// returns, the STUN server KVS clients derive from the region (unless the
// endpoint is a loopback address), and host candidates on every
// interface but loopback.
type ICEConfig struct {
	// RelayOnly restricts the peer to TURN relay candidates (the ICE
	// transport policy "relay"), as when a network allows no direct path
	// or to test the relays.
	RelayOnly bool
	// STUNURL replaces the STUN server KVS clients derive from the
	// region, DefaultSTUNURL(region) (spec 5.1.4). It must be a stun: or
	// stuns: URL that pion parses; NewMaster and NewViewer refuse others.
	STUNURL string
	// SkipDefaultSTUN leaves out the derived STUN server (STUNURL still
	// applies). It is left out anyway when the control-plane endpoint is a
	// loopback address: a local Switchboard's GetIceServerConfig reply
	// carries its own STUN URI, and a public one would be of no use.
	SkipDefaultSTUN bool
	// Interfaces limits host candidates to the named network interfaces,
	// for example "lo" to keep a test on the loopback interface (naming
	// a loopback interface includes it, and turns mDNS off). Every
	// interface but loopback when empty.
	Interfaces []string
}

// DefaultSTUNURL returns the STUN server the KVS SDKs build for a region:
// stun:stun.kinesisvideo.REGION.amazonaws.com:443, under amazonaws.com.cn
// for the China regions.
func DefaultSTUNURL(region string) string {
	domain := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		domain = "amazonaws.com.cn"
	}
	return fmt.Sprintf("stun:stun.kinesisvideo.%s.%s:443", region, domain)
}

// stunURL is the STUN server the peer adds to the service's ICE servers,
// or "" for none.
func (cfg ICEConfig) stunURL(kvs *Client) string {
	switch {
	case cfg.STUNURL != "":
		return cfg.STUNURL
	case cfg.SkipDefaultSTUN || isLoopbackEndpoint(kvs.endpoint):
		return ""
	}
	return DefaultSTUNURL(kvs.region)
}

// isLoopbackEndpoint reports whether a URL's host is localhost or a
// loopback address.
func isLoopbackEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newAPI builds the pion API the peer's PeerConnections come from: the
// default codecs and interceptors (NACK, RTCP reports, statistics, TWCC)
// and the ICE settings.
func (cfg ICEConfig) newAPI(logger *slog.Logger) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("client: registering codecs: %w", err)
	}
	registry := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, registry); err != nil {
		return nil, fmt.Errorf("client: registering interceptors: %w", err)
	}
	var se webrtc.SettingEngine
	se.LoggerFactory = pionLoggerFactory{logger}
	se.SetICETimeouts(iceDisconnectedTimeout, iceFailedTimeout, iceKeepaliveInterval)
	if cfg.RelayOnly {
		// pion waits 2 s before choosing a relayed pair, in case a direct
		// one turns up; with relays only, none will.
		se.SetRelayAcceptanceMinWait(0)
	}
	if len(cfg.Interfaces) > 0 {
		names := slices.Clone(cfg.Interfaces)
		se.SetInterfaceFilter(func(name string) bool { return slices.Contains(names, name) })
		se.SetIncludeLoopbackCandidate(true)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(registry),
		webrtc.WithSettingEngine(se)), nil
}

// configuration is the PeerConnection configuration for a set of ICE
// servers.
func (cfg ICEConfig) configuration(servers []webrtc.ICEServer) webrtc.Configuration {
	c := webrtc.Configuration{ICEServers: servers, BundlePolicy: webrtc.BundlePolicyMaxBundle}
	if cfg.RelayOnly {
		c.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return c
}

// checkICEURL returns why pion would refuse uri in an ICE server with
// this username, or nil: NewPeerConnection fails as a whole when any URL
// does not parse or any TURN URL comes without a username (pion's
// ICEServer validation; the credential is always a string here).
func checkICEURL(uri, username string) error {
	u, err := stun.ParseURI(uri)
	if err != nil {
		return err
	}
	if (u.Scheme == stun.SchemeTypeTURN || u.Scheme == stun.SchemeTypeTURNS) && username == "" {
		return errors.New("TURN server without a username")
	}
	return nil
}

// checkSTUNURL checks ICEConfig.STUNURL: a URL pion parses, with the
// stun: or stuns: scheme (a TURN server would need credentials).
func checkSTUNURL(uri string) error {
	if uri == "" {
		return nil
	}
	u, err := stun.ParseURI(uri)
	if err == nil && u.Scheme != stun.SchemeTypeSTUN && u.Scheme != stun.SchemeTypeSTUNS {
		err = fmt.Errorf("scheme %s is not stun or stuns", u.Scheme)
	}
	if err != nil {
		return fmt.Errorf("client: ICEConfig.STUNURL %q: %w", uri, err)
	}
	return nil
}

// toICEServers converts GetIceServerConfig's entries for pion, adding
// stunURL when it is set. TURN over DTLS (turns: with transport=udp) is left
// out, as the KVS C SDK does: few TURN servers offer it. So is every URL
// pion would refuse (logged), since a single one would make every
// PeerConnection fail until the list is fetched again.
func toICEServers(list []kvsapi.IceServer, stunURL string, log *slog.Logger) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	if stunURL != "" {
		if err := checkICEURL(stunURL, ""); err != nil {
			log.Warn("skipping an unusable STUN server", "url", stunURL, "error", err)
		} else {
			out = append(out, webrtc.ICEServer{URLs: []string{stunURL}})
		}
	}
	for _, entry := range list {
		var urls []string
		for _, uri := range entry.Uris {
			lower := strings.ToLower(uri)
			if strings.HasPrefix(lower, "turns:") && strings.Contains(lower, "transport=udp") {
				continue
			}
			if err := checkICEURL(uri, entry.Username); err != nil {
				log.Warn("skipping an unusable ICE server from the service", "url", uri, "error", err)
				continue
			}
			urls = append(urls, uri)
		}
		if len(urls) > 0 {
			out = append(out, webrtc.ICEServer{URLs: urls, Username: entry.Username, Credential: entry.Password})
		}
	}
	return out
}

// Lifetimes of GetIceServerConfig's entries.
const (
	// defaultICETTL stands for a missing or non-positive Ttl: the
	// lifetime KVS gives its TURN credentials.
	defaultICETTL = 300 * time.Second
	// maxICETTL caps a Ttl, so that a huge one neither overflows a
	// time.Duration nor keeps a list for days.
	maxICETTL = 24 * time.Hour
	// iceFetchTimeout bounds one GetIceServerConfig request: peers fetch
	// on their event loop, which must not hang on an HTTPClient that has
	// no timeout of its own.
	iceFetchTimeout = 10 * time.Second
)

// iceTTL returns how long a GetIceServerConfig reply may be used: the
// shortest Ttl among its entries, each taken as defaultICETTL when not
// positive and capped at maxICETTL; defaultICETTL for an empty reply.
func iceTTL(list []kvsapi.IceServer) time.Duration {
	ttl := time.Duration(0)
	for i, entry := range list {
		d := defaultICETTL
		if entry.Ttl > 0 {
			// Compare in seconds first: multiplying a huge Ttl overflows.
			d = time.Duration(min(int64(entry.Ttl), int64(maxICETTL/time.Second))) * time.Second
		}
		if i == 0 || d < ttl {
			ttl = d
		}
	}
	if ttl == 0 {
		return defaultICETTL
	}
	return ttl
}

// iceServerCache fetches a channel's ICE servers and keeps them until
// shortly before their Ttl ends, or until RECONNECT_ICE_SERVER.
type iceServerCache struct {
	kvs       *Client
	https     string // guarded by mu: a rejoin may move the channel
	arn       string // guarded by mu
	clientID  string
	stun      string
	relayOnly bool // fail when the service offers no TURN server
	log       *slog.Logger

	// fetching lets one caller at a time fetch, so that callers who find
	// the cache stale together make one request; mu guards the fields and
	// is never held across the request, so staleIn does not wait for it.
	fetching sync.Mutex
	mu       sync.Mutex
	fetched  bool // servers holds a reply (which may be an empty list)
	servers  []webrtc.ICEServer
	expires  time.Time
}

// moveTo points the cache at the HTTPS endpoint and channel ARN of a new
// join; when either changed, what it holds is dropped.
func (c *iceServerCache) moveTo(https, arn string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if https == c.https && arn == c.arn {
		return
	}
	c.https, c.arn = https, arn
	c.fetched, c.servers = false, nil
}

// fresh returns the cached servers and true while they stay fresh for at
// least d more.
func (c *iceServerCache) fresh(d time.Duration) ([]webrtc.ICEServer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fetched && time.Now().Add(d).Before(c.expires) {
		return c.servers, true
	}
	return nil, false
}

// get returns the cached servers, fetching them when they are missing or
// about to expire. One fetch takes at most iceFetchTimeout.
func (c *iceServerCache) get(ctx context.Context) ([]webrtc.ICEServer, error) {
	return c.getFreshFor(ctx, 0)
}

// getFreshFor is get for a caller who needs servers that stay fresh for
// at least d more: cached ones closer to their end are fetched again.
func (c *iceServerCache) getFreshFor(ctx context.Context, d time.Duration) ([]webrtc.ICEServer, error) {
	if servers, ok := c.fresh(d); ok {
		return servers, nil
	}
	c.fetching.Lock()
	defer c.fetching.Unlock()
	if servers, ok := c.fresh(d); ok {
		return servers, nil // fetched while this call waited
	}
	c.mu.Lock()
	https, arn := c.https, c.arn
	c.mu.Unlock()
	fetchCtx, cancel := context.WithTimeout(ctx, iceFetchTimeout)
	defer cancel()
	list, err := c.kvs.GetIceServerConfig(fetchCtx, https, arn, c.clientID)
	if err != nil {
		return nil, err
	}
	ttl := iceTTL(list)
	log := c.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	servers := toICEServers(list, c.stun, log)
	if c.relayOnly && !hasTURN(servers) {
		return nil, fmt.Errorf("client: %w", ErrNoRelay)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetched = true
	c.servers = servers
	c.expires = time.Now().Add(max(ttl-iceRefreshGrace, ttl/2))
	return servers, nil
}

// staleIn returns how long the cached servers stay fresh: after that, a
// relayed path should move to new credentials before the old ones end.
func (c *iceServerCache) staleIn() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fetched {
		return 0
	}
	return time.Until(c.expires)
}

// refresh gives pc the current ICE servers before an ICE restart. Our
// TURN server ends an allocation when its credential expires, so a
// restart that gathered with the servers pc was created with could be
// refused a relay candidate. While the cache is fresh it returns the
// same list, and pc is left as it is. freshFor is how long the servers
// must stay fresh (see getFreshFor). configMu, when not nil, is held while
// pc's configuration is read and changed (not while fetching).
func (c *iceServerCache) refresh(ctx context.Context, pc *webrtc.PeerConnection, freshFor time.Duration, configMu *sync.Mutex) error {
	servers, err := c.getFreshFor(ctx, freshFor)
	if err != nil {
		return err
	}
	if configMu != nil {
		configMu.Lock()
		defer configMu.Unlock()
	}
	cfg := pc.GetConfiguration()
	if slices.EqualFunc(cfg.ICEServers, servers, sameICEServer) {
		return nil
	}
	cfg.ICEServers = servers
	return pc.SetConfiguration(cfg)
}

// sameICEServer compares two ICE servers by their URLs and credentials
// (always strings here).
func sameICEServer(a, b webrtc.ICEServer) bool {
	return slices.Equal(a.URLs, b.URLs) && a.Username == b.Username && a.Credential == b.Credential
}

// hasTURN reports whether any server is a TURN relay.
func hasTURN(servers []webrtc.ICEServer) bool {
	for _, s := range servers {
		for _, u := range s.URLs {
			if lower := strings.ToLower(u); strings.HasPrefix(lower, "turn:") || strings.HasPrefix(lower, "turns:") {
				return true
			}
		}
	}
	return false
}

// invalidate makes the next get fetch again.
func (c *iceServerCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetched = false
	c.servers = nil
}
