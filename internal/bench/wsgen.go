package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/switchboard-rtc/switchboard/kvsapi"
	"github.com/switchboard-rtc/switchboard/sigv4"
)

// wsDialer is the lean WebSocket load generator. The SDK's SignalingClient
// runs several goroutines and an event stream per connection, which is
// right for an application and too heavy to hold 100,000 connections in
// the generator next to the server on two cores; this dialer does only
// what every KVS client must do: presign the connect URL with SigV4, open
// TCP and TLS, and upgrade with an HTTP/1.1 request. Frames are then read
// and written with github.com/gobwas/ws (see genConn). Connections leave
// from several loopback source addresses so that their number is not
// bounded by one address's ephemeral ports.
type wsDialer struct {
	endpoint string // wss://host:port
	hostPort string
	creds    sigv4.Credentials
	presign  bool
	tls      *tls.Config
	nets     []*net.Dialer // one per source address
	next     atomic.Uint64
	// timeout bounds each dial (TCP, TLS and the upgrade), so that a
	// target that accepts and then answers nothing cannot hold a scenario
	// whose context has no deadline.
	timeout time.Duration
}

// dialTimeout is how long one connect may take.
const dialTimeout = 30 * time.Second

// newWSDialer returns a dialer to endpoint from sources loopback addresses
// (127.0.0.1, 127.0.0.2, ...). Without creds, URLs are not signed (for
// the bare forwarder, which checks nothing).
func newWSDialer(endpoint string, creds *sigv4.Credentials, tlsCfg *tls.Config, sources int) *wsDialer {
	d := &wsDialer{endpoint: endpoint, tls: tlsCfg.Clone(), timeout: dialTimeout}
	if u, err := url.Parse(endpoint); err == nil {
		d.hostPort = u.Host
		if d.tls.ServerName == "" {
			d.tls.ServerName = u.Hostname()
		}
	}
	if creds != nil {
		d.creds, d.presign = *creds, true
	}
	d.tls.NextProtos = []string{"http/1.1"}
	for i := range max(sources, 1) {
		ip := net.IPv4(127, 0, byte((i+1)/256), byte((i+1)%256))
		d.nets = append(d.nets, &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}})
	}
	return d
}

// connectURL is the (presigned) connect URL of a master (clientID empty)
// or a viewer.
func (d *wsDialer) connectURL(channelARN, clientID string) (*url.URL, error) {
	u, err := url.Parse(d.endpoint + "/")
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set(kvsapi.QueryChannelARN, channelARN)
	if clientID != "" {
		q.Set(kvsapi.QueryClientID, clientID)
	}
	u.RawQuery = q.Encode()
	if !d.presign {
		return u, nil
	}
	return sigv4.PresignURL(u, d.creds, benchRegion, "kinesisvideo", time.Now(), 299*time.Second)
}

// dial opens one connection and returns it with its handshake time (TCP,
// TLS and the upgrade, which includes the server's SigV4 check), within
// d.timeout.
func (d *wsDialer) dial(ctx context.Context, channelARN, clientID string) (*genConn, time.Duration, error) {
	target, err := d.connectURL(channelARN, clientID)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	nd := d.nets[d.next.Add(1)%uint64(len(d.nets))]
	start := time.Now()
	c, err := d.open(ctx, nd, target)
	return c, time.Since(start), err
}

// open runs TCP, TLS and the upgrade under ctx's deadline.
func (d *wsDialer) open(ctx context.Context, nd *net.Dialer, target *url.URL) (*genConn, error) {
	tcp, err := nd.DialContext(ctx, "tcp", d.hostPort)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = tcp.SetDeadline(deadline)
	}
	tc := tls.Client(tcp, d.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = tcp.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	var refusal string
	up := ws.Dialer{OnStatusError: func(status int, reason []byte, r io.Reader) {
		// The connection stays open after the answer: read exactly its
		// body (Content-Length), never up to an end that will not come.
		refusal = fmt.Sprintf("HTTP %d %s", status, reason)
		if resp, err := http.ReadResponse(bufio.NewReader(r), nil); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			refusal += ": " + string(body)
		}
	}}
	br, _, err := up.Upgrade(tc, target)
	if err != nil {
		_ = tc.Close()
		if refusal != "" {
			return nil, fmt.Errorf("upgrade refused: %s", refusal)
		}
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	_ = tcp.SetDeadline(time.Time{})
	c := &genConn{conn: tc, in: io.Reader(tc), client: true}
	if br != nil {
		// The server wrote something right after its response.
		c.in = io.MultiReader(br, tc)
	}
	return c, nil
}

// genConn is one WebSocket connection of the generator (a client: its
// frames are masked) or of the bare forwarder (a server: they are not):
// frames read and written on the TLS connection with gobwas/ws's header
// codec, no buffers of its own beyond the TLS connection's. Reads belong
// to one goroutine (readLoop); writes may come from several.
type genConn struct {
	conn   net.Conn
	in     io.Reader
	client bool // mask what it writes (RFC 6455 section 5.3)

	wmu  sync.Mutex
	wbuf []byte
}

// maxGenFrame bounds what the generator accepts in one frame.
const maxGenFrame = 1 << 20

// writeText sends payload as one masked text frame.
func (c *genConn) writeText(payload []byte) error {
	return c.writeFrame(ws.OpText, payload)
}

// writeFrame sends one frame, masked by a client, in one write to the
// connection.
func (c *genConn) writeFrame(op ws.OpCode, payload []byte) error {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	if c.client {
		h.Masked, h.Mask = true, ws.NewMask()
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	buf := appendHeader(c.wbuf[:0], h)
	start := len(buf)
	buf = append(buf, payload...)
	if h.Masked {
		ws.Cipher(buf[start:], h.Mask, 0)
	}
	c.wbuf = buf
	_, err := c.conn.Write(buf)
	return err
}

// appendHeader appends h's wire form (RFC 6455 section 5.2) to dst.
func appendHeader(dst []byte, h ws.Header) []byte {
	first := byte(h.OpCode)
	if h.Fin {
		first |= 0x80
	}
	var maskBit byte
	if h.Masked {
		maskBit = 0x80
	}
	switch n := h.Length; {
	case n < 126:
		dst = append(dst, first, maskBit|byte(n))
	case n <= 0xffff:
		dst = append(dst, first, maskBit|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, first, maskBit|127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	if h.Masked {
		dst = append(dst, h.Mask[:]...)
	}
	return dst
}

// readLoop reads frames until the connection ends, answers pings, and
// hands every data message (its fragments joined) to onData (nil:
// discarded). The payload is valid only during the call.
func (c *genConn) readLoop(onData func(payload []byte)) {
	var hb [ws.MaxHeaderSize]byte
	var frame, message []byte
	for {
		h, err := ws.ReadHeaderBuffer(c.in, hb[:])
		if err != nil || h.Length > maxGenFrame {
			return
		}
		if int64(cap(frame)) < h.Length {
			frame = make([]byte, h.Length)
		}
		payload := frame[:h.Length]
		if _, err := io.ReadFull(c.in, payload); err != nil {
			return
		}
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpPing:
			if c.writeFrame(ws.OpPong, payload) != nil {
				return
			}
			continue
		case ws.OpClose:
			_ = c.writeFrame(ws.OpClose, payload)
			return
		case ws.OpPong:
			continue
		case ws.OpContinuation:
			message = append(message, payload...)
		default:
			if h.Fin { // the usual case: a message in one frame
				if onData != nil {
					onData(payload)
				}
				continue
			}
			message = append(message[:0], payload...)
		}
		if len(message) > maxGenFrame {
			return
		}
		if h.Fin && onData != nil {
			onData(message)
		}
	}
}

// closeNow drops the connection without a close handshake.
func (c *genConn) closeNow() error { return c.conn.Close() }
