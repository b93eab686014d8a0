package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard-rtc/switchboard/kvsapi"
	"github.com/switchboard-rtc/switchboard/sigv4"
)

// wsDialer is the lean WebSocket load generator. The SDK's SignalingClient
// runs several goroutines and an event stream per connection, which is
// right for an application and too heavy to hold 100,000 connections in
// the generator next to the server on two cores; this dialer does only
// what every KVS client must do: presign the connect URL with SigV4 and
// open a TLS WebSocket with github.com/coder/websocket, the library the
// SDK uses. Connections leave from several loopback source addresses so
// that their number is not bounded by one address's ephemeral ports.
type wsDialer struct {
	endpoint string // wss://host:port
	creds    sigv4.Credentials
	presign  bool
	clients  []*http.Client // one per source address
	next     atomic.Uint64
}

// newWSDialer returns a dialer to endpoint from sources loopback addresses
// (127.0.0.1, 127.0.0.2, ...). Without creds, URLs are not signed (for
// the bare forwarder, which checks nothing).
func newWSDialer(endpoint string, creds *sigv4.Credentials, tlsCfg *tls.Config, sources int) *wsDialer {
	d := &wsDialer{endpoint: endpoint}
	if creds != nil {
		d.creds, d.presign = *creds, true
	}
	cfg := tlsCfg.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	for i := range max(sources, 1) {
		ip := net.IPv4(127, 0, byte((i+1)/256), byte((i+1)%256))
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 15 * time.Second}
		tr := &http.Transport{
			DialContext:         nd.DialContext,
			TLSClientConfig:     cfg,
			TLSHandshakeTimeout: 15 * time.Second,
			ForceAttemptHTTP2:   false,
			TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
			MaxIdleConnsPerHost: -1,
		}
		d.clients = append(d.clients, &http.Client{Transport: tr})
	}
	return d
}

// connectURL is the (presigned) connect URL of a master (clientID empty)
// or a viewer.
func (d *wsDialer) connectURL(channelARN, clientID string) (string, error) {
	u, err := url.Parse(d.endpoint + "/")
	if err != nil {
		return "", err
	}
	q := url.Values{}
	q.Set(kvsapi.QueryChannelARN, channelARN)
	if clientID != "" {
		q.Set(kvsapi.QueryClientID, clientID)
	}
	u.RawQuery = q.Encode()
	if !d.presign {
		return u.String(), nil
	}
	signed, err := sigv4.PresignURL(u, d.creds, benchRegion, "kinesisvideo", time.Now(), 299*time.Second)
	if err != nil {
		return "", err
	}
	return signed.String(), nil
}

// dial opens one connection and returns it with its handshake time (TCP,
// TLS and the upgrade, which includes the server's SigV4 check).
func (d *wsDialer) dial(ctx context.Context, channelARN, clientID string) (*websocket.Conn, time.Duration, error) {
	target, err := d.connectURL(channelARN, clientID)
	if err != nil {
		return nil, 0, err
	}
	hc := d.clients[d.next.Add(1)%uint64(len(d.clients))]
	start := time.Now()
	ws, resp, err := websocket.Dial(ctx, target, &websocket.DialOptions{
		HTTPClient:      hc,
		CompressionMode: websocket.CompressionDisabled,
	})
	took := time.Since(start)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, took, fmt.Errorf("connect (HTTP %d): %w", status, err)
	}
	ws.SetReadLimit(1 << 20)
	return ws, took, nil
}

// close releases the dialer's idle connections.
func (d *wsDialer) close() {
	for _, c := range d.clients {
		c.CloseIdleConnections()
	}
}
