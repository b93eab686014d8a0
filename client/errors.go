package client

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Sentinel errors. Errors returned by this package wrap them, so callers
// branch with errors.Is.
var (
	// ErrUntrustedCertificate: the server's TLS certificate could not be
	// verified (unknown authority, wrong host name, expired). Trust the
	// server's CA through Config.TLSConfig or SignalingConfig.TLSConfig.
	ErrUntrustedCertificate = errors.New("TLS certificate of the server is not trusted")

	// ErrUnreachable: no connection could be made to the endpoint (refused,
	// unknown host, dial timeout).
	ErrUnreachable = errors.New("endpoint is unreachable")

	// ErrClosed: the signaling client has been closed, or has stopped for
	// good (see SignalingClient.Err).
	ErrClosed = errors.New("signaling client is closed")

	// ErrNotConnected: the signaling client is between connections while
	// it reconnects; retry after the next StateConnected event.
	ErrNotConnected = errors.New("signaling client is not connected (reconnecting)")

	// ErrInvalidMessage: a message was refused before sending, for example
	// a master's message without a recipient.
	ErrInvalidMessage = errors.New("invalid signaling message")

	// ErrReplaced: the server replaced this connection with a newer one
	// that has the same identity (the same master, or a viewer with the
	// same client id). The client does not reconnect, because that would
	// evict the newer connection in turn.
	ErrReplaced = errors.New("connection replaced by a newer one with the same identity")

	// ErrDisconnected: the connection ended (server close, GO_AWAY or a
	// network failure). It is the Err of a StateReconnecting event when
	// the client reconnects, and the final error when it was not asked to.
	ErrDisconnected = errors.New("signaling connection ended")

	// ErrReconnectFailed: reconnecting was refused for good (for example
	// 404 because the channel was deleted) or every attempt failed.
	ErrReconnectFailed = errors.New("signaling reconnect failed")

	// ErrNoDataChannel: a peer has no open data channel to send on (the
	// viewer is unknown, did not open one, or it is not open yet).
	ErrNoDataChannel = errors.New("no open data channel")

	// ErrNoCredentials: a credentials provider found nothing to sign
	// with.
	ErrNoCredentials = errors.New("no AWS credentials found")

	// ErrNoRelay: relay-only ICE was asked for, but GetIceServerConfig
	// returned no TURN server (the service has no relay configured).
	ErrNoRelay = errors.New("relay-only ICE needs a TURN server, and GetIceServerConfig returned none")

	// ErrNotRunning: the peer is not running (Run has not been called, or
	// has returned), or has no PeerConnection at the moment.
	ErrNotRunning = errors.New("peer is not running")

	// ErrTooManyViewers: a Master refused a new viewer's offer because it
	// already serves MasterConfig.MaxViewers viewers. It is the Err of the
	// ViewerEvent that reports the refusal.
	ErrTooManyViewers = errors.New("the master already serves as many viewers as it may")
)

// APIError is an error reply of the service: the AWS error name (Code, for
// example "ResourceNotFoundException"), the HTTP status, the message and
// the request id. REST calls and refused WebSocket handshakes return it,
// wrapped with the operation's name; use errors.As, HasCode or the Is...
// helpers to inspect it.
type APIError struct {
	Code      string
	Status    int
	Message   string
	RequestID string

	serverTime time.Time // the reply's Date header, zero without one
}

// Error describes the error as "<Code> (HTTP <status>): <message>".
func (e *APIError) Error() string {
	var b strings.Builder
	code := e.Code
	if code == "" {
		code = "unrecognised error reply"
	}
	fmt.Fprintf(&b, "%s (HTTP %d)", code, e.Status)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" [request id " + e.RequestID + "]")
	}
	return b.String()
}

// Is reports whether target is an *APIError with the same Code (when the
// target sets one) and the same Status (when the target sets one), so that
// errors.Is(err, &APIError{Code: "ResourceNotFoundException"}) works.
func (e *APIError) Is(target error) bool {
	t, ok := target.(*APIError)
	if !ok || t.Code == "" && t.Status == 0 {
		return false
	}
	return (t.Code == "" || t.Code == e.Code) && (t.Status == 0 || t.Status == e.Status)
}

// HasCode reports whether err is, or wraps, an *APIError with the given
// AWS error name.
func HasCode(err error, code string) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Code == code
}

// IsNotFound reports whether err is a ResourceNotFoundException (no such
// channel, or not active).
func IsNotFound(err error) bool { return HasCode(err, kvsapi.CodeResourceNotFound.Name) }

// IsResourceInUse reports whether err is a ResourceInUseException (for
// example a channel name that is already taken).
func IsResourceInUse(err error) bool { return HasCode(err, kvsapi.CodeResourceInUse.Name) }

// IsInvalidArgument reports whether err is an InvalidArgumentException.
func IsInvalidArgument(err error) bool { return HasCode(err, kvsapi.CodeInvalidArgument.Name) }

// IsThrottled reports whether err is a ClientLimitExceededException: too
// many calls or connections; retry later.
func IsThrottled(err error) bool { return HasCode(err, kvsapi.CodeClientLimitExceeded.Name) }

// IsAuthFailure reports whether the service refused the credentials or
// the signature (AccessDenied, NotAuthorized, UnrecognizedClient,
// InvalidSignature, IncompleteSignature, MissingAuthenticationToken).
func IsAuthFailure(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.Code {
	case kvsapi.CodeAccessDenied.Name, kvsapi.CodeNotAuthorized.Name, kvsapi.CodeUnrecognizedClient.Name,
		kvsapi.CodeInvalidSignature.Name, kvsapi.CodeIncompleteSignature.Name, kvsapi.CodeMissingAuthenticationToken.Name:
		return true
	}
	return false
}

// maxErrorSnippet bounds how much of an unrecognised error body is quoted.
const maxErrorSnippet = 256

// parseAPIError reads an AWS error reply: the name from x-amzn-ErrorType
// or the __type member (anything after ':' or before '#' is decoration),
// the text from Message or message, the id from x-amzn-RequestId.
func parseAPIError(status int, header http.Header, body []byte) *APIError {
	e := &APIError{Status: status, RequestID: header.Get("X-Amzn-Requestid"), serverTime: replyTime(header)}
	if e.RequestID == "" {
		e.RequestID = header.Get("X-Amz-Request-Id")
	}
	var doc struct {
		Type     string `json:"__type"`
		Message  string `json:"Message"`
		LowerMsg string `json:"message"`
	}
	decoded := json.Unmarshal(body, &doc) == nil
	e.Code = errorName(header.Get("X-Amzn-Errortype"))
	if e.Code == "" {
		e.Code = errorName(doc.Type)
	}
	e.Message = doc.Message
	if e.Message == "" {
		e.Message = doc.LowerMsg
	}
	if !decoded && e.Message == "" {
		e.Message = snippet(body)
	}
	if e.Message == "" && e.Code == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// errorName strips the decorations AWS adds around an error name:
// "aws.protocol#Name" and "Name:http://doc-uri".
func errorName(s string) string {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '#'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// snippet quotes the start of a body that is not an AWS error document.
func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) <= maxErrorSnippet {
		return s
	}
	s = s[:maxErrorSnippet]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// wrapTransport names a failure to reach the server, marking certificate
// and connection problems with their sentinels.
func wrapTransport(what string, err error) error {
	switch {
	case isCertificateError(err):
		return fmt.Errorf("%s: %w: %w", what, ErrUntrustedCertificate, err)
	case isUnreachable(err):
		return fmt.Errorf("%s: %w: %w", what, ErrUnreachable, err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// readAllQuietly reads what it can of a small error body.
func readAllQuietly(r io.Reader) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, maxReplyBytes))
	return b
}

func isCertificateError(err error) bool {
	var verify *tls.CertificateVerificationError
	var authority x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &host) || errors.As(err, &invalid)
}

func isUnreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		return true
	case errors.As(err, &op) && op.Op == "dial":
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}
