package controlplane

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/httpx"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// ServeHTTP runs the operation of the request path: it reads the body
// within the size limit, authenticates, runs the operation and writes the
// reply. Every outcome is counted and logged once.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := httpx.RequestID(w)
	op, ok := a.operations[r.URL.Path]
	name := op.name
	var (
		err     error
		out     any
		account string // who made the request, once authenticated
	)
	switch {
	case !ok:
		name = "Unknown"
		err = kvsapi.Errorf(kvsapi.CodeUnknownOperation, "No operation is served at %s %s", r.Method, r.URL.Path)
	case r.Method != http.MethodPost:
		err = kvsapi.Errorf(kvsapi.CodeUnknownOperation, "%s takes POST, got %s", name, r.Method)
	default:
		out, account, err = a.run(w, r, op)
	}
	var code kvsapi.ErrorCode
	if err != nil {
		code = httpx.WriteError(w, r, err)
	} else if werr := httpx.WriteJSON(w, http.StatusOK, out); werr != nil {
		err = werr
		code = httpx.WriteError(w, r, werr)
	}
	a.observe(r, requestID, name, account, code, err, time.Since(start))
}

// run reads, authenticates, applies the account's rate limit and carries
// out one operation; account is the caller's once the signature is
// verified, "" before.
func (a *API) run(w http.ResponseWriter, r *http.Request, op operation) (out any, account string, err error) {
	body, err := a.readBody(w, r)
	if err != nil {
		return nil, "", err
	}
	p, err := a.auth.Authenticate(r, body)
	if err != nil {
		return nil, "", err
	}
	if err := a.quotas.admitAccount(op.name, p.Account); err != nil {
		return nil, p.Account, err
	}
	out, err = op.run(auth.WithPrincipal(r.Context(), p), p, body)
	return out, p.Account, err
}

// readBody reads the body within the size limit and within bodyTimeout.
// The server has no overall ReadTimeout, as that would also cut WebSocket
// connections, so without a deadline here a client that declares a length
// and then trickles its body would hold a connection, a goroutine and a
// growing buffer for ever, before its signature is even checked.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > a.maxBody {
		return nil, tooLarge(a.maxBody)
	}
	rc := http.NewResponseController(w)
	// A writer without a connection (a test recorder) cannot take a
	// deadline; it has no slow client either.
	limited := rc.SetReadDeadline(time.Now().Add(a.bodyTimeout)) == nil
	body, err := io.ReadAll(io.LimitReader(r.Body, a.maxBody+1))
	switch {
	case err != nil && isTimeout(err):
		return nil, a.tooSlow(w, r, len(body))
	case err != nil:
		return nil, kvsapi.Errorf(kvsapi.CodeSerialization, "Could not read the request body: %v", err)
	case int64(len(body)) > a.maxBody:
		return nil, tooLarge(a.maxBody)
	}
	if limited {
		// The deadline is for the body: lift it once the body is complete,
		// so that nothing later in a long request (SendAlexaOfferToMaster
		// waits for the master) can run into it. After a refusal it stays,
		// to bound net/http's discarding of the unread rest of the body.
		_ = rc.SetReadDeadline(time.Time{})
	}
	return body, nil
}

// tooSlow is the reply to a body that missed its deadline. Over HTTP/1.x
// the connection cannot carry another request, as the rest of the body may
// still come, so the reply says it will be closed; HTTP/2 just resets the
// stream.
func (a *API) tooSlow(w http.ResponseWriter, r *http.Request, got int) error {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
	received := fmt.Sprintf("%d bytes received", got)
	if r.ContentLength >= 0 {
		received = fmt.Sprintf("%d of %d bytes received", got, r.ContentLength)
	}
	return kvsapi.Errorf(kvsapi.CodeSerialization, "The request body did not arrive within %s (%s)", a.bodyTimeout, received)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func tooLarge(limit int64) error {
	return kvsapi.Errorf(kvsapi.CodeInvalidArgument, "The request body exceeds the limit of %d bytes (server.max_body_bytes)", limit)
}

func (a *API) observe(r *http.Request, requestID, name, account string, code kvsapi.ErrorCode, err error, took time.Duration) {
	errName := code.Name
	a.metrics.requests.WithLabelValues(name, errName).Inc()
	a.metrics.latency.WithLabelValues(name).Observe(took.Seconds())
	level := slog.LevelDebug
	if code.Status >= 500 {
		level = slog.LevelError
	}
	attrs := []any{"operation", name, "status", statusOf(code), "duration", took, "request_id", requestID}
	if account != "" {
		attrs = append(attrs, "account", account)
	}
	if err != nil {
		attrs = append(attrs, "error", errName, "detail", err.Error())
	}
	a.log.Log(r.Context(), level, "request", attrs...)
}

func statusOf(code kvsapi.ErrorCode) int {
	if code.Status == 0 {
		return http.StatusOK
	}
	return code.Status
}

// required reports a missing required member.
func required(member string) error {
	return kvsapi.Errorf(kvsapi.CodeInvalidArgument, "%s is required", member)
}
