package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/kvsapi"
	"github.com/switchboard-rtc/switchboard/sigv4"
)

// Defaults of SignalingConfig.
const (
	// DefaultPresignExpiry is the X-Amz-Expires of the connect URL; the
	// KVS JavaScript SDK always uses 299 seconds.
	DefaultPresignExpiry = 299 * time.Second
	// DefaultKeepaliveInterval: a ping is sent after this long without
	// sending anything, as the KVS C SDK does after 10 s of silence.
	DefaultKeepaliveInterval = 10 * time.Second
	// DefaultWriteTimeout bounds the write of one frame.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultHandshakeTimeout bounds one connect (TLS and upgrade).
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultReconnectAttempts bounds the attempts of one reconnection.
	DefaultReconnectAttempts = 10
	// DefaultReconnectBackoff is the first reconnection delay; it doubles
	// per attempt up to 10 seconds, with full jitter.
	DefaultReconnectBackoff = 250 * time.Millisecond
	// DefaultEventBuffer is the capacity of the Events channel.
	DefaultEventBuffer = 64
)

// SignalingConfig configures a SignalingClient.
type SignalingConfig struct {
	// Endpoint is the WSS endpoint from GetSignalingChannelEndpoint for the
	// role, e.g. wss://host[:port]. Required.
	Endpoint string
	// ChannelARN is the channel to join. Required.
	ChannelARN string
	// Role is kvsapi.RoleMaster or kvsapi.RoleViewer. Required.
	Role string
	// ClientID identifies a viewer within the channel (1-256 characters of
	// [a-zA-Z0-9_.-], not starting with AWS_). Required for viewers and
	// not allowed for masters.
	ClientID string
	// Region is the SigV4 signing region. Required.
	Region string
	// Credentials presign every connect URL; they are retrieved again for
	// every reconnect. Required.
	Credentials CredentialsProvider
	// TLSConfig configures TLS, typically to trust a development CA; nil
	// uses the system roots. The client always negotiates HTTP/1.1.
	TLSConfig *tls.Config
	// PresignExpiry is the validity of the connect URL; DefaultPresignExpiry
	// when zero. It only matters for the connect itself.
	PresignExpiry time.Duration
	// Reconnect makes the client reconnect to the same Endpoint, with a
	// freshly presigned URL, after GO_AWAY, a close by the server or a
	// dropped socket, up to ReconnectAttempts tries. It never
	// reconnects a connection the server replaced (ErrReplaced) and stops
	// when a reconnect is refused for good (a 4xx reply other than
	// throttling, e.g. 404 once the channel is deleted).
	Reconnect bool
	// ReconnectAttempts bounds the connect attempts of a reconnection;
	// DefaultReconnectAttempts when zero. The budget is shared by
	// outages that follow each other closely and renewed once a
	// connection has stayed up for 30 seconds, so that a server that
	// accepts and drops at once cannot cause an endless loop.
	ReconnectAttempts int
	// ReconnectBackoff is the first delay before reconnecting;
	// DefaultReconnectBackoff when zero.
	ReconnectBackoff time.Duration
	// KeepaliveInterval: the client pings the server when it has sent
	// nothing for this long, and treats a ping unanswered for as long as a
	// dropped connection. DefaultKeepaliveInterval when zero; negative
	// disables pings.
	KeepaliveInterval time.Duration
	// WriteTimeout bounds the write of every frame; DefaultWriteTimeout
	// when zero. A write that times out closes the connection.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds each connect; DefaultHandshakeTimeout when
	// zero.
	HandshakeTimeout time.Duration
	// EventBuffer is the capacity of the Events channel;
	// DefaultEventBuffer when zero.
	EventBuffer int
	// Logger receives the client's logs (connects, GO_AWAY, reconnects at
	// Info, frames at Debug); nothing is logged when nil.
	Logger *slog.Logger
	// Clock is the local clock connect URLs are presigned with; time.Now
	// when nil. The client corrects it by the server's clock after a
	// refusal for clock skew, for this connect and every reconnect.
	Clock func() time.Time

	// clock presigns the connect URLs: the corrected clock of the Client
	// whose peer dials, shared with its REST calls (Clock is then unused),
	// or else one of this connection's own on Clock.
	clock *signingClock
}

// SignalingClient is a master's or a viewer's WebSocket connection to a
// signaling channel. Create one with DialSignaling; it is safe for
// concurrent use.
//
// Everything the server sends, and every change of connection state, is
// delivered in order on the channel returned by Events, which is closed
// after the client stops for good. One goroutine owns the channel, so
// there is a single ordered stream and nothing to synchronise: a peer can
// select on it alongside its own work, and a state change keeps its place
// among the messages (what follows StateConnected came over the new
// connection). The caller must keep reading it: while the buffer is full
// the client stops reading the socket, and messages and keepalive pongs
// wait.
type SignalingClient struct {
	cfg    SignalingConfig
	target *url.URL     // unsigned connect URL
	http   *http.Client // handshake transport
	log    *slog.Logger
	events chan Event
	ctx    context.Context    // ends when Close is called
	stop   context.CancelFunc // ends ctx
	done   chan struct{}      // closed when the run goroutine has returned

	lastSend atomic.Int64 // unix nanoseconds of the last frame written
	sockets  sync.Map     // *websocket.Conn → its TCP connection (net.Conn), from dial until serve takes it

	mu    sync.Mutex
	ws    *websocket.Conn // nil while reconnecting and after the end
	state State
	err   error // why the client stopped, when it did on its own
}

// DialSignaling connects to a signaling channel and returns the client. It
// makes a single attempt, plus one more when the server refused the URL's
// signing time (see Clock skew in the package documentation): a refused
// handshake returns an *APIError (for example ResourceNotFoundException
// for an unknown channel), wrapped;
// transport failures wrap ErrUntrustedCertificate or ErrUnreachable. ctx
// bounds the connect only.
func DialSignaling(ctx context.Context, cfg SignalingConfig) (*SignalingClient, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	target, err := signalingURL(cfg.Endpoint, cfg.ChannelARN, cfg.ClientID)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &SignalingClient{
		cfg:    cfg,
		target: target,
		http:   &http.Client{Transport: newWebSocketTransport(cfg.TLSConfig)},
		log:    logger.With("component", "signaling-client", "role", cfg.Role, "client_id", cfg.ClientID),
		events: make(chan Event, cfg.EventBuffer),
		done:   make(chan struct{}),
	}
	ws, err := c.dial(ctx)
	if err != nil {
		c.http.CloseIdleConnections()
		return nil, fmt.Errorf("client: %w", err)
	}
	c.ctx, c.stop = context.WithCancel(context.Background())
	c.connected(ws)
	go c.run(ws)
	return c, nil
}

// withDefaults checks the configuration and fills in defaults.
func (cfg SignalingConfig) withDefaults() (SignalingConfig, error) {
	if err := cfg.validate(); err != nil {
		return cfg, err
	}
	setDefault(&cfg.PresignExpiry, DefaultPresignExpiry)
	setDefault(&cfg.ReconnectAttempts, DefaultReconnectAttempts)
	setDefault(&cfg.ReconnectBackoff, DefaultReconnectBackoff)
	setDefault(&cfg.KeepaliveInterval, DefaultKeepaliveInterval)
	setDefault(&cfg.WriteTimeout, DefaultWriteTimeout)
	setDefault(&cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&cfg.EventBuffer, DefaultEventBuffer)
	if cfg.clock == nil {
		cfg.clock = newSigningClock(cfg.Clock)
	}
	if cfg.PresignExpiry < time.Second || cfg.PresignExpiry > sigv4.MaxPresignExpires {
		return cfg, fmt.Errorf("client: SignalingConfig.PresignExpiry must be within 1s and %s, got %s", sigv4.MaxPresignExpires, cfg.PresignExpiry)
	}
	return cfg, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

func (cfg *SignalingConfig) validate() error {
	if _, err := kvsapi.ParseChannelARN("SignalingConfig.ChannelARN", cfg.ChannelARN); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	switch {
	case cfg.Endpoint == "":
		return fmt.Errorf("client: SignalingConfig.Endpoint is required")
	case cfg.Region == "":
		return fmt.Errorf("client: SignalingConfig.Region is required")
	case cfg.Credentials == nil:
		return fmt.Errorf("client: SignalingConfig.Credentials is required")
	case cfg.ReconnectAttempts < 0 || cfg.ReconnectBackoff < 0 || cfg.WriteTimeout < 0 || cfg.HandshakeTimeout < 0 || cfg.EventBuffer < 0:
		return fmt.Errorf("client: SignalingConfig durations and counts must not be negative")
	}
	switch cfg.Role {
	case kvsapi.RoleMaster:
		if cfg.ClientID != "" {
			return fmt.Errorf("client: SignalingConfig.ClientID is for viewers; a master has none")
		}
	case kvsapi.RoleViewer:
		if err := kvsapi.ValidateClientID("SignalingConfig.ClientID", cfg.ClientID); err != nil {
			return fmt.Errorf("client: %w", err)
		}
	default:
		return fmt.Errorf("client: SignalingConfig.Role must be %s or %s, got %q", kvsapi.RoleMaster, kvsapi.RoleViewer, cfg.Role)
	}
	return nil
}

// Events returns the stream of events, in order: StateConnected first,
// then server frames and state changes, and StateClosed last (best effort
// after Close). The channel is closed when the client has stopped.
func (c *SignalingClient) Events() <-chan Event { return c.events }

// State returns the current connection state.
func (c *SignalingClient) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Err returns why the client stopped on its own (ErrReplaced,
// ErrDisconnected or ErrReconnectFailed, wrapping the cause), or nil while
// it runs and after Close.
func (c *SignalingClient) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection with a close handshake (bounded to a few
// seconds), stops reconnecting and waits for the client's goroutines. It
// is idempotent and always returns nil.
func (c *SignalingClient) Close() error {
	c.stop()
	<-c.done
	c.http.CloseIdleConnections()
	return nil
}

// Send sends one message. The payload must already be base64 (see
// EncodePayload); a master must set RecipientClientID; CorrelationID is
// optional and makes the server answer a failure with a STATUS_RESPONSE
// event. ctx is checked before writing; the write itself is bounded by
// WriteTimeout, since abandoning a half-written frame would break the
// connection. Sends fail with ErrNotConnected while reconnecting and
// ErrClosed after the end.
func (c *SignalingClient) Send(ctx context.Context, msg kvsapi.ClientMessage) error {
	if err := c.checkMessage(msg); err != nil {
		return err
	}
	frame, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("client: encoding %s: %w", msg.Action, err)
	}
	ws, err := c.conn()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.write(ws, frame, msg.Action)
}

// SendOffer sends an SDP offer. recipientClientID names the viewer when
// the client is a master and is ignored for a viewer (whose messages
// always go to the master). An empty offer.Type is set to "offer".
func (c *SignalingClient) SendOffer(ctx context.Context, recipientClientID string, offer SessionDescription) error {
	if offer.Type == "" {
		offer.Type = "offer"
	}
	return c.sendDocument(ctx, kvsapi.ActionSDPOffer, recipientClientID, offer)
}

// SendAnswer sends an SDP answer; see SendOffer for recipientClientID. An
// empty answer.Type is set to "answer".
func (c *SignalingClient) SendAnswer(ctx context.Context, recipientClientID string, answer SessionDescription) error {
	if answer.Type == "" {
		answer.Type = "answer"
	}
	return c.sendDocument(ctx, kvsapi.ActionSDPAnswer, recipientClientID, answer)
}

// SendICECandidate sends an ICE candidate; see SendOffer for
// recipientClientID.
func (c *SignalingClient) SendICECandidate(ctx context.Context, recipientClientID string, candidate ICECandidate) error {
	return c.sendDocument(ctx, kvsapi.ActionICECandidate, recipientClientID, candidate)
}

func (c *SignalingClient) sendDocument(ctx context.Context, action, recipient string, doc any) error {
	payload, err := EncodePayload(doc)
	if err != nil {
		return err
	}
	if c.cfg.Role == kvsapi.RoleViewer {
		recipient = ""
	}
	return c.Send(ctx, kvsapi.ClientMessage{Action: action, RecipientClientID: recipient, MessagePayload: payload})
}

func (c *SignalingClient) checkMessage(msg kvsapi.ClientMessage) error {
	switch {
	case msg.Action == "":
		return fmt.Errorf("client: %w: action is required", ErrInvalidMessage)
	case msg.MessagePayload == "":
		return fmt.Errorf("client: %w: %s needs a payload", ErrInvalidMessage, msg.Action)
	case c.cfg.Role == kvsapi.RoleMaster && msg.RecipientClientID == "":
		return fmt.Errorf("client: %w: a master must name the recipient viewer of %s", ErrInvalidMessage, msg.Action)
	}
	return nil
}

// conn returns the open connection, or why there is none.
func (c *SignalingClient) conn() (*websocket.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.ws != nil:
		return c.ws, nil
	case c.state == StateClosed:
		return nil, fmt.Errorf("client: %w", ErrClosed)
	default:
		return nil, fmt.Errorf("client: %w", ErrNotConnected)
	}
}

// write sends one text frame within the write timeout. On failure the
// library closes the connection, which the reader notices.
func (c *SignalingClient) write(ws *websocket.Conn, frame []byte, what string) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.WriteTimeout)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
		if errors.Is(err, net.ErrClosed) {
			// The connection ended under us; a reconnect may follow.
			return fmt.Errorf("client: sending %s: %w: %w", what, ErrNotConnected, err)
		}
		return fmt.Errorf("client: sending %s: %w", what, err)
	}
	c.lastSend.Store(time.Now().UnixNano())
	c.log.Debug("signaling frame sent", "type", what, "bytes", len(frame))
	return nil
}
