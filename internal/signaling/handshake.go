package signaling

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/bus"
	"github.com/switchboard-rtc/switchboard/internal/httpx"
	"github.com/switchboard-rtc/switchboard/internal/netpark"
	"github.com/switchboard-rtc/switchboard/internal/wsserver"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// subprotocolWSS is offered by the C SDK (libwebsockets); it is echoed only
// when offered (spec 6.1).
const subprotocolWSS = "wss"

// refusal is a handshake failure: the API error to answer with and the
// metric reason.
type refusal struct {
	reason string
	err    error
}

func (r *refusal) Error() string { return r.reason + ": " + r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

func refuse(reason string, code kvsapi.ErrorCode, format string, args ...any) *refusal {
	return &refusal{reason: reason, err: kvsapi.Errorf(code, format, args...)}
}

// ServeHTTP handles a WebSocket upgrade request at any path: it
// authenticates the presigned URL, selects the role, applies the
// handshake-time limits and then serves the connection until it closes.
// Refusals are plain HTTP replies in the AWS error shape (spec 6.1).
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, ref := h.admit(r)
	if ref != nil {
		h.writeRefusal(w, r, ref)
		return
	}
	// The 101 carries a Date like every other reply: KVS clients set
	// their clocks by it (spec 1.2, section 9 item 19), and net/http adds
	// none to a reply written on a hijacked connection.
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	ws, err := wsserver.Upgrade(w, r, wsserver.UpgradeOptions{
		Subprotocols: []string{subprotocolWSS},
		ReadLimit:    h.cfg.ReadLimit,
		WouldBlock:   netpark.ErrWouldBlock,
	})
	if err != nil {
		// Upgrade has written the reply. admit made its request checks
		// (wsserver.CheckRequest), so the hijack or the 101 reply failed. Browsers connect from
		// pages of any origin and authenticate with the presigned URL, not
		// with cookies, so there is no origin check (spec 1.5); compression
		// is declined.
		h.metrics.refusals.WithLabelValues("upgrade_failed").Inc()
		c.abandon()
		return
	}
	c.attach(ws)
	c.activate(r.Context())
	if afterActivate != nil {
		afterActivate(c)
	}
	// The connection gets a goroutine of its own, and this one returns:
	// net/http's goroutine, whose stack grew deep in the TLS handshake, and
	// the request it parsed are freed instead of being held for hours.
	go c.serve()
}

// afterActivate, when set (by tests only, before any connection), runs
// between a connection's activation and the start of its serving
// goroutine, so that a test can land a takeover in that window.
var afterActivate func(*conn)

// writeRefusal answers a refused handshake, counts and logs it.
func (h *Hub) writeRefusal(w http.ResponseWriter, r *http.Request, ref *refusal) {
	h.metrics.refusals.WithLabelValues(ref.reason).Inc()
	// A 426 (another WebSocket version) must name the one we speak.
	wsserver.SetRefusalHeaders(w.Header(), httpx.AsAPIError(ref.err).Code.Status)
	code := httpx.WriteError(w, r, ref.err)
	if code == kvsapi.CodeInternalFailure {
		h.log.Error("signaling handshake failed", "reason", ref.reason, "error", ref.err)
	} else {
		h.log.Debug("signaling connection refused", "reason", ref.reason, "error", ref.err)
	}
}

// admit runs every check that can refuse a connection before the upgrade
// and registers the new connection, and its deferred subscription, with
// the bus. The request is checked as wsserver.Upgrade will check it
// before anything else: a handshake that Upgrade would refuse must not
// take its identity over from a live connection.
func (h *Hub) admit(r *http.Request) (*conn, *refusal) {
	if h.isClosing() {
		return nil, refuse("shutting_down", kvsapi.CodeServiceUnavailable, "The server is shutting down; reconnect shortly.")
	}
	if status, reason := wsserver.CheckRequest(r); status != 0 {
		return nil, badHandshake(status, reason)
	}
	addr, ref := h.identify(r)
	if ref != nil {
		return nil, ref
	}
	c := newConn(h, addr)
	// Registered before the channel lookup, so that a TTL update racing
	// this connect reaches it (see setTTL).
	if !h.register(c) {
		return nil, refuse("shutting_down", kvsapi.CodeServiceUnavailable, "The server is shutting down; reconnect shortly.")
	}
	if ref := h.enter(r.Context(), c); ref != nil {
		h.unregister(c)
		return nil, ref
	}
	return c, nil
}

// badHandshake refuses a request that is not a valid WebSocket upgrade,
// with the status wsserver gives it (400, or 426 for another version).
func badHandshake(status int, reason string) *refusal {
	code := kvsapi.CodeInvalidArgument
	code.Status = status
	return &refusal{reason: "not_websocket",
		err: kvsapi.Errorf(code, "This endpoint accepts WebSocket upgrade requests only: %s.", reason)}
}

// identify authenticates the presigned URL and returns the address the
// connection asks for. The channel is named by the ARN of the URL, the
// one UpdateChannelTTL and CloseChannel are given.
func (h *Hub) identify(r *http.Request) (bus.Address, *refusal) {
	account, err := h.auth.AuthenticatePresigned(r)
	if err != nil {
		return bus.Address{}, &refusal{reason: "auth", err: err}
	}
	q := r.URL.Query()
	arnText := q.Get(kvsapi.QueryChannelARN)
	arn, err := kvsapi.ParseChannelARN(kvsapi.QueryChannelARN, arnText)
	if err != nil {
		return bus.Address{}, &refusal{reason: "invalid_channel_arn", err: err}
	}
	addr := bus.MasterOf(account, arnText)
	if q.Has(kvsapi.QueryClientID) {
		// A copy: the value may share memory with the whole request line,
		// which the connection would then keep alive.
		addr = bus.ViewerOf(account, arnText, strings.Clone(q.Get(kvsapi.QueryClientID)))
		if err := kvsapi.ValidateClientID(kvsapi.QueryClientID, addr.ClientID); err != nil {
			return bus.Address{}, &refusal{reason: "invalid_client_id", err: err}
		}
	}
	if arn.Account != account {
		// Another account's channel looks exactly like a missing one.
		return bus.Address{}, refuse("channel_not_found", kvsapi.CodeResourceNotFound, kvsapi.ChannelNotFoundMessage)
	}
	return addr, nil
}

// enter looks the registered connection's channel up, applies the
// connect rate of its role and subscribes it.
func (h *Hub) enter(ctx context.Context, c *conn) *refusal {
	info, err := h.channels.LookupChannel(ctx, c.addr.Account, c.addr.Channel)
	if err != nil {
		return lookupRefusal(err)
	}
	c.setTTL(info.MessageTTL)
	if !h.connectLimits.Allow(connectKey(c.addr), h.now()) {
		return refuse("connect_rate", kvsapi.CodeClientLimitExceeded, "%s",
			h.connectLimits.refusal(c.addr.Role.String()+" connections to this channel"))
	}
	return h.subscribe(ctx, c)
}

// connectKey names a channel and a role in the connect limiter: AWS
// counts ConnectAsMaster and ConnectAsViewer separately (spec 8), so
// viewers connecting cannot lock the master out.
func connectKey(addr bus.Address) string {
	return channelKey(addr.Account, addr.Channel) + "\x00" + addr.Role.String()
}

// subscribe takes the connection's address. The subscription is deferred:
// the mailbox stays in the bus until activate, so that a failed upgrade
// loses none of it.
func (h *Hub) subscribe(ctx context.Context, c *conn) *refusal {
	sub, _, err := h.bus.Subscribe(ctx, c.addr, c, bus.SubscribeOptions{
		MaxViewers: h.cfg.MaxViewersPerChannel,
		HoldDown:   h.cfg.TakeoverHoldDown.Std(),
		Deferred:   true,
	})
	switch {
	case err == nil:
		c.sub = sub
		return nil
	case errors.Is(err, bus.ErrViewerLimit):
		return refuse("viewer_limit", kvsapi.CodeClientLimitExceeded,
			"The channel already has the maximum of %d connected viewers (signaling.max_viewers_per_channel).",
			h.cfg.MaxViewersPerChannel)
	case errors.Is(err, bus.ErrHeldDown):
		return refuse("takeover_hold_down", kvsapi.CodeClientLimitExceeded,
			"Another connection with this identity took over less than %s ago (signaling.takeover_hold_down) "+
				"and is still connected; two clients seem to share one identity. Retry later or use a distinct client id.",
			h.cfg.TakeoverHoldDown)
	case errors.Is(err, bus.ErrChannelClosed):
		return refuse("channel_not_found", kvsapi.CodeResourceNotFound, kvsapi.ChannelNotFoundMessage)
	default:
		return &refusal{reason: "internal", err: err}
	}
}

func lookupRefusal(err error) *refusal {
	var apiErr *kvsapi.Error
	if !errors.As(err, &apiErr) {
		return &refusal{reason: "internal", err: err}
	}
	switch apiErr.Code {
	case kvsapi.CodeResourceNotFound:
		return &refusal{reason: "channel_not_found", err: err}
	case kvsapi.CodeAccessDenied, kvsapi.CodeAccessDeniedWebSocket, kvsapi.CodeNotAuthorized:
		return &refusal{reason: "access_denied", err: err}
	}
	return &refusal{reason: "channel_lookup", err: err}
}

// ShuttingDown reports whether Shutdown has begun: the hub refuses new
// connections and is draining the others.
func (h *Hub) ShuttingDown() bool { return h.isClosing() }

func (h *Hub) isClosing() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closing
}
