package signaling

import (
	"context"
	"errors"
	"net/http"
	"strings"

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
		h.metrics.refusals.WithLabelValues(ref.reason).Inc()
		code := httpx.WriteError(w, r, ref.err)
		if code == kvsapi.CodeInternalFailure {
			h.log.Error("signaling handshake failed", "reason", ref.reason, "error", ref.err)
		} else {
			h.log.Debug("signaling connection refused", "reason", ref.reason, "error", ref.err)
		}
		return
	}
	ws, err := wsserver.Upgrade(w, r, wsserver.UpgradeOptions{
		Subprotocols: []string{subprotocolWSS},
		ReadLimit:    h.cfg.ReadLimit,
		WouldBlock:   netpark.ErrWouldBlock,
	})
	if err != nil {
		// Upgrade has written the reply. Browsers connect from pages of any
		// origin and authenticate with the presigned URL, not with cookies,
		// so there is no origin check (spec 1.5); compression is declined.
		h.metrics.refusals.WithLabelValues("upgrade_failed").Inc()
		c.abandon()
		return
	}
	c.attach(ws)
	// The connection gets a goroutine of its own, and this one returns:
	// net/http's goroutine, whose stack grew deep in the TLS handshake, and
	// the request it parsed are freed instead of being held for hours.
	go c.serve()
}

// admit runs every check that can refuse a connection before the upgrade
// and registers the new connection with the bus.
func (h *Hub) admit(r *http.Request) (*conn, *refusal) {
	if h.isClosing() {
		return nil, refuse("shutting_down", kvsapi.CodeServiceUnavailable, "The server is shutting down; reconnect shortly.")
	}
	if !isUpgrade(r) {
		return nil, refuse("not_websocket", kvsapi.CodeInvalidArgument, "This endpoint accepts WebSocket upgrade requests only.")
	}
	account, err := h.auth.AuthenticatePresigned(r)
	if err != nil {
		return nil, &refusal{reason: "auth", err: err}
	}
	q := r.URL.Query()
	arnText := q.Get(kvsapi.QueryChannelARN)
	arn, err := kvsapi.ParseChannelARN(kvsapi.QueryChannelARN, arnText)
	if err != nil {
		return nil, &refusal{reason: "invalid_channel_arn", err: err}
	}
	role, clientID := bus.RoleMaster, ""
	if q.Has(kvsapi.QueryClientID) {
		// A copy: the value may share memory with the whole request line,
		// which the connection would then keep alive.
		role, clientID = bus.RoleViewer, strings.Clone(q.Get(kvsapi.QueryClientID))
		if err := kvsapi.ValidateClientID(kvsapi.QueryClientID, clientID); err != nil {
			return nil, &refusal{reason: "invalid_client_id", err: err}
		}
	}
	if arn.Account != account {
		// Another account's channel looks exactly like a missing one.
		return nil, refuse("channel_not_found", kvsapi.CodeResourceNotFound, kvsapi.ChannelNotFoundMessage)
	}
	info, err := h.channels.LookupChannel(r.Context(), account, arnText)
	if err != nil {
		return nil, lookupRefusal(err)
	}
	if info.ARN == "" {
		info.ARN = arnText
	}
	if !h.connectLimits.allow(channelKey(account, info.ARN), h.now()) {
		return nil, refuse("connect_rate", kvsapi.CodeClientLimitExceeded,
			"Too many connections to this channel per second (limit %g); retry later.", h.cfg.ConnectsPerSecondPerChannel)
	}
	c := newConn(h, bus.Address{Account: account, Channel: info.ARN, Role: role, ClientID: clientID}, info.MessageTTL)
	if !h.register(c) {
		return nil, refuse("shutting_down", kvsapi.CodeServiceUnavailable, "The server is shutting down; reconnect shortly.")
	}
	if ref := h.subscribe(r.Context(), c); ref != nil {
		h.unregister(c)
		return nil, ref
	}
	return c, nil
}

func (h *Hub) subscribe(ctx context.Context, c *conn) *refusal {
	sub, backlog, err := h.bus.Subscribe(ctx, c.addr, c, bus.SubscribeOptions{
		MaxViewers: h.cfg.MaxViewersPerChannel,
		HoldDown:   h.cfg.TakeoverHoldDown.Std(),
	})
	switch {
	case err == nil:
		c.sub, c.backlog = sub, backlog
		return nil
	case errors.Is(err, bus.ErrViewerLimit):
		return refuse("viewer_limit", kvsapi.CodeClientLimitExceeded,
			"The channel already has the maximum of %d connected viewers.", h.cfg.MaxViewersPerChannel)
	case errors.Is(err, bus.ErrHeldDown):
		return refuse("takeover_hold_down", kvsapi.CodeClientLimitExceeded,
			"Another connection with this identity took over less than %s ago and is still connected; "+
				"two clients seem to share one identity. Retry later or use a distinct client id.", h.cfg.TakeoverHoldDown)
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

func (h *Hub) isClosing() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closing
}

// isUpgrade reports whether r asks for a WebSocket; wsserver.Upgrade checks
// the rest of the handshake.
func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "websocket") {
				return true
			}
		}
	}
	return false
}
