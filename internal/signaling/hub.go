package signaling

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/internal/bus"
	"github.com/switchboard-rtc/switchboard/internal/netpark"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Authenticator verifies the SigV4 presigned URL of an upgrade request
// (service kinesisvideo, X-Amz-Expires enforced, security token inside the
// signed query) and returns the caller's account id. Errors are
// *kvsapi.Error values carrying the AWS error name and HTTP status to answer
// with; anything else is answered 500.
type Authenticator interface {
	AuthenticatePresigned(r *http.Request) (account string, err error)
}

// ChannelDirectory resolves a channel ARN inside an account. Unknown,
// deleted or not-ACTIVE channels give a *kvsapi.Error with
// kvsapi.CodeResourceNotFound. A channel ARN of another account must look
// not-found too (the hub checks the ARN's account itself before asking).
// A channel is found only by its exact ARN: connections are known by the
// ARN they asked for, which is the one UpdateChannelTTL and CloseChannel
// are called with.
type ChannelDirectory interface {
	LookupChannel(ctx context.Context, account, channelARN string) (ChannelInfo, error)
}

// ChannelInfo is what the hub needs to know about a channel.
type ChannelInfo struct {
	ARN, Name string
	// MessageTTL is how long messages for an absent recipient are kept
	// (MessageTtlSeconds). It is read when a connection is accepted and
	// applies to the messages that connection sends, unless
	// UpdateChannelTTL changes it (even during the lookup).
	MessageTTL time.Duration
}

// Deps are the hub's collaborators. Authenticator, Channels and Bus are
// required.
type Deps struct {
	Authenticator Authenticator
	Channels      ChannelDirectory
	Bus           bus.Bus
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the hub's metrics; a private registry when nil.
	Registerer prometheus.Registerer
	// Now is the clock of rate limits; time.Now when nil.
	Now func() time.Time
}

// Hub accepts signaling connections and relays their messages.
type Hub struct {
	cfg      Config
	auth     Authenticator
	channels ChannelDirectory
	bus      bus.Bus
	log      *slog.Logger
	now      func() time.Time
	metrics  *metrics
	// poller holds idle connections without a goroutine; nil when the
	// system offers none (connections then keep a reading goroutine).
	poller *netpark.Poller
	// parkAfter is how long an idle connection keeps its reader before it
	// is parked (defaultParkAfter; tests shorten it).
	parkAfter time.Duration

	messageRules    [3]bucketRule // per-connection message rate limits, by actionIndex
	messageRefusals [3]string     // what a message refused by each says, by actionIndex
	connectLimits   *keyedLimiter // by channel and role
	alexaLimits     *keyedLimiter // by channel
	alexaAccounts   *keyedLimiter // by account
	nextID          atomic.Uint64
	pacer           pacer         // congested connections (pacing.go)
	handovers       handovers     // displaced connections still handing back mail (handover.go)
	paceMark        int           // queue length from which senders wait: half of send_queue_length
	paceLimit       time.Duration // how long a sender waits for a congested recipient

	mu        sync.Mutex
	conns     map[*conn]struct{}
	closing   bool
	stopping  chan struct{} // closed when Shutdown starts
	drained   chan struct{} // closed when closing and no connection is left
	drainOnce sync.Once
}

// NewHub validates cfg and builds a hub. It starts nothing: call Run for the
// background work and route upgrade requests to ServeHTTP.
func NewHub(cfg Config, deps Deps) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Authenticator == nil || deps.Channels == nil || deps.Bus == nil {
		return nil, errors.New("signaling: Deps.Authenticator, Deps.Channels and Deps.Bus are required")
	}
	h := &Hub{
		cfg:      cfg,
		auth:     deps.Authenticator,
		channels: deps.Channels,
		bus:      deps.Bus,
		log:      deps.Logger,
		now:      deps.Now,
		connectLimits: newKeyedLimiter(cfg.ConnectsPerSecondPerChannel, cfg.ConnectBurstPerChannel,
			rateSettings{"connects_per_second_per_channel", "connect_burst_per_channel"}),
		alexaLimits: newKeyedLimiter(cfg.AlexaOffersPerSecondPerChannel, cfg.AlexaOfferBurstPerChannel,
			rateSettings{"alexa_offers_per_second_per_channel", "alexa_offer_burst_per_channel"}),
		alexaAccounts: newKeyedLimiter(cfg.AlexaOffersPerSecondPerAccount, cfg.AlexaOfferBurstPerAccount,
			rateSettings{"alexa_offers_per_second_per_account", "alexa_offer_burst_per_account"}),
		conns:     make(map[*conn]struct{}),
		parkAfter: defaultParkAfter,
		paceMark:  max(1, cfg.SendQueueLength/2),
		paceLimit: defaultPaceLimit,
		stopping:  make(chan struct{}),
		drained:   make(chan struct{}),
	}
	for _, limit := range []struct {
		action      string
		rule        bucketRule
		rate, burst string
	}{
		{kvsapi.ActionSDPOffer, bucketRule{cfg.SDPOffersPerSecond, float64(cfg.SDPOfferBurst)}, "sdp_offers_per_second", "sdp_offer_burst"},
		{kvsapi.ActionSDPAnswer, bucketRule{cfg.SDPAnswersPerSecond, float64(cfg.SDPAnswerBurst)}, "sdp_answers_per_second", "sdp_answer_burst"},
		{kvsapi.ActionICECandidate, bucketRule{cfg.ICECandidatesPerSecond, float64(cfg.ICECandidateBurst)}, "ice_candidates_per_second", "ice_candidate_burst"},
	} {
		i := actionIndex(limit.action)
		h.messageRules[i] = limit.rule
		h.messageRefusals[i] = limit.rule.refusal(limit.action+" messages on this connection", rateSettings{limit.rate, limit.burst})
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.log = h.log.With("component", "signaling")
	if h.now == nil {
		h.now = time.Now
	}
	if p, err := netpark.NewPoller(); err == nil {
		h.poller = p
	} else {
		h.log.Warn("idle connections will each keep a goroutine: no poller", "error", err)
	}
	reg := deps.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg, deps.Bus, h.parkedCount)
	if err != nil {
		h.closePoller()
		return nil, err
	}
	h.metrics = m
	return h, nil
}

// parkedCount is how many connections wait in the poller.
func (h *Hub) parkedCount() int {
	if h.poller == nil {
		return 0
	}
	return h.poller.Len()
}

// closePoller stops the poller once no connection needs it; parked
// connections that remain (after a forced shutdown) are woken and read on
// their own goroutines until they end.
func (h *Hub) closePoller() {
	if h.poller != nil {
		_ = h.poller.Close()
	}
}

// Run does the hub's background work (mailbox expiry, forgetting idle rate
// limiters) until ctx ends, then returns nil.
func (h *Hub) Run(ctx context.Context) error {
	t := time.NewTicker(h.cfg.HousekeepingInterval.Std())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			h.housekeep(ctx)
		}
	}
}

func (h *Hub) housekeep(ctx context.Context) {
	if err := h.bus.Expire(ctx); err != nil && !errors.Is(err, bus.ErrClosed) && ctx.Err() == nil {
		h.log.Warn("mailbox expiry failed", "error", err)
	}
	now := h.now()
	h.connectLimits.Sweep(now)
	h.alexaLimits.Sweep(now)
	h.alexaAccounts.Sweep(now)
}

// Shutdown stops accepting connections, sends GO_AWAY to every connection,
// waits until they have all gone or cfg.ShutdownDrain has passed, then
// closes the rest with 1001. When ctx ends first the remaining connections
// are dropped without a close handshake and ctx's error is returned.
func (h *Hub) Shutdown(ctx context.Context) error {
	defer h.closePoller()
	h.mu.Lock()
	if !h.closing {
		h.closing = true
		close(h.stopping)
	}
	if len(h.conns) == 0 {
		h.drainOnce.Do(func() { close(h.drained) })
	}
	h.mu.Unlock()

	h.log.Info("signaling shutting down", "connections", h.forEachConn(func(c *conn) { c.requestGoAway() }))
	drain := time.NewTimer(h.cfg.ShutdownDrain.Std())
	defer drain.Stop()
	select {
	case <-h.drained:
		return nil
	case <-drain.C:
	case <-ctx.Done():
		h.forEachConn(func(c *conn) { c.requestClose(causeShutdownForced) })
		return ctx.Err()
	}
	h.forEachConn(func(c *conn) { c.requestClose(causeShutdown) })
	select {
	case <-h.drained:
		return nil
	case <-ctx.Done():
		h.forEachConn(func(c *conn) { c.requestClose(causeShutdownForced) })
		return ctx.Err()
	}
}

// forEachConn calls fn for every local connection and returns how many
// there were. fn runs without the hub lock.
func (h *Hub) forEachConn(fn func(*conn)) int {
	h.mu.Lock()
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		fn(c)
	}
	return len(conns)
}

// CloseChannel sends GO_AWAY to every connection of the channel, on every
// node the bus reaches, closes them and drops the channel's mailboxes. Call
// it when the channel is deleted.
func (h *Hub) CloseChannel(account, channelARN string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.bus.CloseChannel(ctx, account, channelARN); err != nil {
		h.log.Warn("closing channel connections failed", "channel", channelARN, "error", err)
	}
}

// Presence reports whether the channel has a master connected and how many
// viewers, across the nodes the bus reaches.
func (h *Hub) Presence(account, channelARN string) (masterConnected bool, viewers int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := h.bus.Presence(ctx, account, channelARN)
	if err != nil {
		h.log.Warn("presence lookup failed", "channel", channelARN, "error", err)
		return false, 0
	}
	return p.Master, p.Viewers
}

// NotifyICEServersChanged sends RECONNECT_ICE_SERVER to every connection
// of this node (spec 6.5.3): C clients then fetch a new ICE configuration
// and reconnect to the relays. Call it when the TURN relays or their
// credentials change; in a cluster every node calls it for itself.
func (h *Hub) NotifyICEServersChanged() {
	n := h.forEachConn(func(c *conn) { c.push(outbound{raw: reconnectICEServerFrame}) })
	h.log.Info("RECONNECT_ICE_SERVER sent", "connections", n)
}

// register adds c to the local connections unless the hub is shutting
// down.
func (h *Hub) register(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	h.conns[c] = struct{}{}
	return true
}

func (h *Hub) unregister(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c)
	if h.closing && len(h.conns) == 0 {
		h.drainOnce.Do(func() { close(h.drained) })
	}
}

// publishOptions are the bus options for a message accepted under ttl.
func (h *Hub) publishOptions(ttl time.Duration) bus.PublishOptions {
	return bus.PublishOptions{
		TTL:                ttl,
		MaxMailboxMessages: h.cfg.MailboxMaxMessagesPerChannel,
		MaxMailboxBytes:    h.cfg.MailboxMaxBytesPerChannel,
	}
}

func (h *Hub) connectionCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// UpdateChannelTTL applies a channel's new message TTL to the connections
// of this node: messages accepted from now on are kept that long, messages
// already queued keep the TTL they were accepted with (spec 3.4). Call it
// after the new TTL is stored, so that a connection being accepted either
// reads it or is reached here (see conn.setTTL).
func (h *Hub) UpdateChannelTTL(account, channelARN string, ttl time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		if c.addr.Account == account && c.addr.Channel == channelARN {
			c.ttl.Store(int64(ttl))
		}
	}
}
