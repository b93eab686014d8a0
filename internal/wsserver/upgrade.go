package wsserver

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// UpgradeOptions configures Upgrade and the Conn it returns.
type UpgradeOptions struct {
	// Subprotocols the server speaks, in its order of preference.
	Subprotocols []string
	// ReadLimit is the largest data message accepted, after reassembly;
	// 0 (or less) means 32 KiB, and it is capped just under 2 GiB. A
	// larger message ends the connection with 1009.
	ReadLimit int64
	// WouldBlock is the sentinel a nonblocking connection's Read wraps when
	// no data is available yet; see the package comment. Deadline expiries
	// count as would block whether it is set or not.
	WouldBlock error
}

// acceptGUID is the fixed string RFC 6455 section 1.3 appends to the key.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Upgrade validates a WebSocket upgrade request, hijacks the connection and
// writes the 101 reply, which carries the headers already set on
// w.Header() besides its own. It chooses the first of opts.Subprotocols
// that the client offered; if none is (or the client offered none), the
// connection goes on without a subprotocol. Extensions are never accepted.
//
// A request that is not a valid upgrade gets a plain-text 400 (426 with
// Sec-WebSocket-Version: 13 for a version other than 13), is not hijacked,
// and Upgrade returns an error wrapping ErrBadHandshake. Deadlines the
// http.Server had set on the connection stay set: clearing or moving them is
// the caller's business.
func Upgrade(w http.ResponseWriter, r *http.Request, opts UpgradeOptions) (*Conn, error) {
	if status, reason := CheckRequest(r); status != 0 {
		SetRefusalHeaders(w.Header(), status)
		http.Error(w, "WebSocket upgrade refused: "+reason, status)
		return nil, fmt.Errorf("%w: %s", ErrBadHandshake, reason)
	}
	subprotocol := chooseSubprotocol(r.Header.Values("Sec-WebSocket-Protocol"), opts.Subprotocols)
	reply := w.Header().Clone()
	// A 101 has no body; headers about one would confuse the client.
	reply.Del("Content-Length")
	reply.Del("Transfer-Encoding")
	reply.Set("Upgrade", "websocket")
	reply.Set("Connection", "Upgrade")
	reply.Set("Sec-WebSocket-Accept", acceptKey(r.Header.Get("Sec-WebSocket-Key")))
	reply.Del("Sec-WebSocket-Protocol")
	if subprotocol != "" {
		reply.Set("Sec-WebSocket-Protocol", subprotocol)
	}

	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "WebSocket upgrade impossible on this connection", http.StatusInternalServerError)
		return nil, fmt.Errorf("wsserver: hijack: %w", err)
	}
	if err := writeSwitching(brw.Writer, reply); err != nil {
		nc.Close()
		return nil, fmt.Errorf("wsserver: write 101 reply: %w", err)
	}
	return newConn(unwrapReplayer(nc), readAhead(brw.Reader), subprotocol, opts), nil
}

// replayer is a connection that replays bytes read before net/http got
// it: the one internal/ice hands net/http when TURN shares the HTTPS port
// and a TLS client negotiated no ALPN protocol. Drained returns the
// connection underneath (a *tls.Conn) once those bytes have been read.
type replayer interface {
	Drained() (net.Conn, bool)
}

// unwrapReplayer returns the connection under a drained replayer, so that
// NetConn is the *tls.Conn the caller may park, and nc itself otherwise.
// The request line alone is longer than what a replayer replays, so after
// the request has been read it is drained.
func unwrapReplayer(nc net.Conn) net.Conn {
	if r, ok := nc.(replayer); ok {
		if inner, drained := r.Drained(); drained {
			return inner
		}
	}
	return nc
}

// CheckRequest returns the status and reason to refuse r with, or 0 and
// "" when r is a valid WebSocket upgrade request. It makes the checks
// Upgrade makes, so that a caller can run them before it commits to
// anything (for example, registers the client), and answer a refusal in
// its own format with the same status and SetRefusalHeaders.
func CheckRequest(r *http.Request) (status int, reason string) {
	switch {
	case r.Method != http.MethodGet:
		return http.StatusBadRequest, "method is not GET"
	case !r.ProtoAtLeast(1, 1):
		return http.StatusBadRequest, "HTTP version below 1.1"
	case !HasToken(r.Header.Values("Connection"), "upgrade"):
		return http.StatusBadRequest, `Connection header lacks "upgrade"`
	case !HasToken(r.Header.Values("Upgrade"), "websocket"):
		return http.StatusBadRequest, `Upgrade header lacks "websocket"`
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return http.StatusUpgradeRequired, "Sec-WebSocket-Version is not 13"
	case !validKey(r.Header.Get("Sec-WebSocket-Key")):
		return http.StatusBadRequest, "Sec-WebSocket-Key is not 16 bytes in base64"
	case r.ContentLength != 0:
		// Nothing would read the body: it would reach the WebSocket reader
		// as if the client had sent it as frames.
		return http.StatusBadRequest, "the request carries a body; an upgrade request must have none"
	}
	return 0, ""
}

// SetRefusalHeaders adds the headers a refusal with status must carry:
// a 426 names the protocol version the server speaks (RFC 6455 section
// 4.4).
func SetRefusalHeaders(h http.Header, status int) {
	if status == http.StatusUpgradeRequired {
		h.Set("Sec-WebSocket-Version", "13")
	}
}

// HasToken reports whether the comma-separated header values hold token,
// compared without regard to case.
func HasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func validKey(key string) bool {
	raw, err := base64.StdEncoding.DecodeString(key)
	return err == nil && len(raw) == 16
}

// acceptKey is the Sec-WebSocket-Accept value proving that the server read
// the key (RFC 6455 section 4.2.2).
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// chooseSubprotocol returns the first of ours that the client offered.
// Subprotocol names compare case-sensitively.
func chooseSubprotocol(offered []string, ours []string) string {
	for _, p := range ours {
		for _, v := range offered {
			for t := range strings.SplitSeq(v, ",") {
				if strings.TrimSpace(t) == p {
					return p
				}
			}
		}
	}
	return ""
}

func writeSwitching(bw *bufio.Writer, h http.Header) error {
	bw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	h.Write(bw) // errors stick in bw and come back from Flush
	bw.WriteString("\r\n")
	return bw.Flush()
}

// readAhead copies out what the HTTP server had read past the request,
// which is the start of the WebSocket stream. A copy, so that the Conn
// does not keep the server's bufio.Reader.
func readAhead(br *bufio.Reader) []byte {
	n := br.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := br.Peek(n)
	return append([]byte(nil), b...)
}
