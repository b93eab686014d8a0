package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/kvsapi"
	"github.com/switchboard-rtc/switchboard/sigv4"
)

// maxReconnectBackoff caps the doubling reconnection delay, like the KVS
// C SDK's 10-second cap.
const maxReconnectBackoff = 10 * time.Second

// signalingURL builds the unsigned connect URL: the endpoint, with path "/"
// when it has none, and X-Amz-ChannelARN (and a viewer's X-Amz-ClientId)
// in the query (spec 6.1).
func signalingURL(endpoint, channelARN, clientID string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		return nil, fmt.Errorf("client: SignalingConfig.Endpoint: %w", err)
	case u.Scheme != "wss" && u.Scheme != "ws" && u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("client: SignalingConfig.Endpoint must be a wss:// URL, got %q", endpoint)
	case u.Host == "":
		return nil, fmt.Errorf("client: SignalingConfig.Endpoint has no host: %q", endpoint)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("client: SignalingConfig.Endpoint must not have a query or fragment: %q", endpoint)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	q := url.Values{}
	q.Set(kvsapi.QueryChannelARN, channelARN)
	if clientID != "" {
		q.Set(kvsapi.QueryClientID, clientID)
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// presign returns the connect URL signed now with fresh credentials. The
// channel ARN, client id and session token are inside the signed query.
func (c *SignalingClient) presign(ctx context.Context) (*url.URL, error) {
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("retrieving credentials: %w", err)
	}
	return sigv4.PresignURL(c.target, creds, c.cfg.Region, signingService, c.cfg.clock.now(), c.cfg.PresignExpiry)
}

// socketSlot is where the transport leaves the TCP connection it dials for
// a handshake whose context carries the slot (under socketSlotKey), so
// that the session can drop the socket itself when a close handshake
// does not end: the WebSocket library's own bound on it is longer than
// closeTimeout and cannot be cut short from outside.
type socketSlot struct{ conn net.Conn }

type socketSlotKey struct{}

// newWebSocketTransport is a transport for WebSocket handshakes: HTTP/1.1
// only (an upgrade cannot travel over HTTP/2), with the given TLS settings.
// It leaves each connection it dials in the handshake's socketSlot.
func newWebSocketTransport(tlsConfig *tls.Config) *http.Transport {
	t := newTransport(tlsConfig)
	if dial := t.DialContext; dial != nil {
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, network, addr)
			if slot, ok := ctx.Value(socketSlotKey{}).(*socketSlot); ok && err == nil {
				slot.conn = conn
			}
			return conn, err
		}
	}
	t.ForceAttemptHTTP2 = false
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t.TLSClientConfig.NextProtos = []string{"http/1.1"}
	return t
}

// dial makes one connection attempt, plus one more when the server
// refused the first for its signing time alone: the URL is then presigned
// again on the clock corrected from the refusal's Date header, which every
// later connect keeps using. Its errors never contain the signed query
// (signature and session token).
func (c *SignalingClient) dial(ctx context.Context) (*websocket.Conn, error) {
	ws, err := c.dialOnce(ctx)
	if err != nil && c.cfg.clock.learnFrom(err) {
		c.log.Info("the server refused the signing time; presigning again on its clock", "clock_skew", c.cfg.clock.skew())
		ws, err = c.dialOnce(ctx)
	}
	return ws, err
}

// dialOnce presigns the connect URL and makes one handshake.
func (c *SignalingClient) dialOnce(ctx context.Context) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	where := "connecting to " + c.redactedTarget()
	signed, err := c.presign(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	slot := &socketSlot{}
	ws, resp, err := websocket.Dial(context.WithValue(ctx, socketSlotKey{}, slot), signed.String(), &websocket.DialOptions{
		HTTPClient:      c.http,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, c.handshakeError(where, resp, err)
	}
	ws.SetReadLimit(readLimit)
	if slot.conn != nil { // nil when the handshake reused an idle connection
		c.sockets.Store(ws, slot.conn)
	}
	return ws, nil
}

// handshakeError turns a refused upgrade into an *APIError and anything
// else into a transport error.
func (c *SignalingClient) handshakeError(where string, resp *http.Response, err error) error {
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		var body []byte
		if resp.Body != nil {
			body = readAllQuietly(resp.Body)
		}
		return fmt.Errorf("%s: %w", where, parseAPIError(resp.StatusCode, resp.Header, body))
	}
	return wrapTransport(where, scrubSignedQuery(err))
}

// signedQuery matches a presigned query inside an error message.
var signedQuery = regexp.MustCompile(`\?X-Amz-[^"\s]*`)

// scrubSignedQuery keeps the signature and the session token of a
// presigned URL out of an error: the message loses the query, and the
// chain keeps only the cause under the *url.Error that holds the URL.
func scrubSignedQuery(err error) error {
	msg := signedQuery.ReplaceAllString(err.Error(), "")
	if msg == err.Error() {
		return err
	}
	var ue *url.Error
	var cause error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	return &scrubbedError{msg: msg, cause: cause}
}

// scrubbedError is an error whose message had secrets removed.
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }

// redactedTarget is the connect URL without its query, for messages.
func (c *SignalingClient) redactedTarget() string {
	u := *c.target
	u.RawQuery = ""
	return u.String()
}

// reconnect dials until a connection opens, a refusal is final, the
// attempt budget is spent or the client is closed. *attempts counts the
// attempts of the current outage; cause is why the connection ended.
func (c *SignalingClient) reconnect(attempts *int, cause error) (*websocket.Conn, error) {
	last := cause
	for *attempts < c.cfg.ReconnectAttempts {
		delay := backoff(c.cfg.ReconnectBackoff, *attempts)
		*attempts++
		select {
		case <-c.ctx.Done():
			return nil, fmt.Errorf("client: %w", ErrClosed)
		case <-time.After(delay):
		}
		ws, err := c.dial(c.ctx)
		switch {
		case err == nil:
			return ws, nil
		case c.ctx.Err() != nil:
			return nil, fmt.Errorf("client: %w", ErrClosed)
		case !retryable(err):
			return nil, fmt.Errorf("client: %w: %w", ErrReconnectFailed, err)
		}
		c.log.Info("signaling reconnect attempt failed", "attempt", *attempts, "error", err)
		last = err
	}
	return nil, fmt.Errorf("client: %w after %d attempts: %w", ErrReconnectFailed, *attempts, last)
}

// backoff is the delay before attempt n (from 0): a random duration below
// base doubled n times, capped (full jitter).
func backoff(base time.Duration, n int) time.Duration {
	ceiling := max(maxReconnectBackoff, base)
	d := base
	for range n {
		if d >= ceiling/2 {
			d = ceiling
			break
		}
		d *= 2
	}
	return rand.N(min(d, ceiling)) + time.Millisecond
}

// retryable reports whether a failed connect may succeed later: network
// trouble, 5xx, throttling. Other refusals (unknown channel, bad
// credentials, invalid parameters) and untrusted certificates are final.
func retryable(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status >= 500 || apiErr.Status == http.StatusRequestTimeout ||
			apiErr.Status == http.StatusTooManyRequests || apiErr.Code == kvsapi.CodeClientLimitExceeded.Name
	}
	return !errors.Is(err, ErrUntrustedCertificate)
}
