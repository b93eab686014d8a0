package app

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-rtc/switchboard/internal/httpx"
	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/internal/wsserver"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// routes are the handlers the router dispatches to.
type routes struct {
	api       http.Handler // REST operations (POST)
	signaling http.Handler // WebSocket upgrades; nil until signaling is wired
	store     store.Store
	metrics   *prometheus.Registry
	console   http.Handler // GET /console/...; nil when the console is off
	// shuttingDown reports that the server has begun to shut down, so that
	// /readyz sends load balancers elsewhere; nil: never.
	shuttingDown func() bool
	// bodyTimeout bounds how long any request body may take to arrive.
	bodyTimeout time.Duration
	// writeTimeout bounds how long a reply may take to be written once it
	// has begun (see boundReplyWrite).
	writeTimeout time.Duration
}

// newRouter dispatches one listener's requests: CORS preflights, WebSocket
// upgrades, operations endpoints and REST operations. Anything else is an
// UnknownOperationException in the AWS shape.
func newRouter(rt routes) http.Handler {
	metrics := promhttp.HandlerFor(rt.metrics, promhttp.HandlerOpts{})
	return withCORS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		boundBodyRead(w, r, rt.bodyTimeout)
		w = boundReplyWrite(w, rt.writeTimeout)
		switch {
		case r.Method == http.MethodOptions:
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodPost:
			rt.api.ServeHTTP(w, r)
		case isSignalingConnect(r) && rt.signaling != nil:
			rt.signaling.ServeHTTP(w, r)
		case r.URL.Path == "/healthz":
			writeText(w, http.StatusOK, "ok\n")
		case r.URL.Path == "/readyz":
			ready(w, r, rt)
		case r.URL.Path == "/metrics":
			metrics.ServeHTTP(w, r)
		case rt.console != nil && (r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, "/console/")):
			rt.console.ServeHTTP(w, r)
		case rt.console != nil && r.URL.Path == "/" && r.Method == http.MethodGet:
			http.Redirect(w, r, "/console/", http.StatusFound)
		default:
			httpx.WriteError(w, r, kvsapi.Errorf(kvsapi.CodeUnknownOperation, "No operation is served at %s %s", r.Method, r.URL.Path))
		}
	}))
}

// boundBodyRead gives a request that carries a body timeout to arrive,
// whichever handler takes it. Handlers that answer without reading the
// body (an unknown operation, a body declared too large, the console)
// leave net/http to read and discard it after the reply, and with no
// deadline a client trickling a large body would hold the connection and
// its goroutine for ever, before any signature is checked. The REST API
// sets its own deadline while it reads a body and lifts it afterwards;
// requests without a body get none, so that a long handler's request
// context is never cancelled by a deadline passing. A WebSocket upgrade
// with a body is refused (wsserver.CheckRequest), so the deadline never
// stays on a hijacked connection.
func boundBodyRead(w http.ResponseWriter, r *http.Request, timeout time.Duration) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
}

// boundReplyWrite gives the reply a timeout to be written, counted from
// the moment it begins (its status line or first bytes) rather than from
// the request, so that a handler may wait as long as it must before it
// answers (SendAlexaOfferToMaster waits for the master's answer). Without
// it a client that sends requests and never reads the replies holds the
// connection and its goroutine for ever once the socket buffers are full.
// net/http clears the deadline after each reply, so a WebSocket upgrade
// later on the same connection does not inherit it; hijacking goes
// through (ResponseController unwraps).
func boundReplyWrite(w http.ResponseWriter, timeout time.Duration) http.ResponseWriter {
	if timeout <= 0 {
		return w
	}
	return &replyWriter{ResponseWriter: w, timeout: timeout}
}

// replyWriter sets the write deadline when the reply begins.
type replyWriter struct {
	http.ResponseWriter
	timeout time.Duration
	armed   bool
}

func (w *replyWriter) arm() {
	if !w.armed {
		w.armed = true
		_ = http.NewResponseController(w.ResponseWriter).SetWriteDeadline(time.Now().Add(w.timeout))
	}
}

func (w *replyWriter) WriteHeader(status int) {
	w.arm()
	w.ResponseWriter.WriteHeader(status)
}

func (w *replyWriter) Write(p []byte) (int, error) {
	w.arm()
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *replyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// isSignalingConnect tells the signaling hub's requests apart: a GET that
// asks for a WebSocket, or a GET of the root that carries a channel ARN,
// which is a signaling connect that lost its upgrade headers on the way
// (a proxy that strips them, curl). The hub answers the second kind with
// an AWS error saying what is missing, rather than the console or an
// unknown-operation error answering.
func isSignalingConnect(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	return wsserver.HasToken(r.Header.Values("Upgrade"), "websocket") ||
		r.URL.Path == "/" && r.URL.Query().Has(kvsapi.QueryChannelARN)
}

// ready answers /readyz: 503 while the server shuts down (it refuses new
// signaling connections then) or when the store does not answer.
func ready(w http.ResponseWriter, r *http.Request, rt routes) {
	if rt.shuttingDown != nil && rt.shuttingDown() {
		writeText(w, http.StatusServiceUnavailable, "shutting down\n")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := rt.store.Ping(ctx); err != nil {
		writeText(w, http.StatusServiceUnavailable, "store unavailable: "+err.Error()+"\n")
		return
	}
	writeText(w, http.StatusOK, "ready\n")
}

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", itoa(len(text)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}

// corsAllowedHeaders are the request headers AWS SDKs sign or send from
// browsers (spec 1.5); a preflight may ask for others, which are reflected.
const corsAllowedHeaders = "authorization, content-type, x-amz-date, x-amz-security-token, x-amz-user-agent, " +
	"x-amz-content-sha256, amz-sdk-invocation-id, amz-sdk-request"

// withCORS lets browser pages call the API from any origin: preflights
// are answered without authentication, and replies expose the headers
// SDKs read. The operational endpoints are left out.
// operationalPaths are served without CORS headers.
var operationalPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

func withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if operationalPaths[r.URL.Path] {
			// Probes and metrics are for the operator's tools, not for
			// scripts on other web sites: a page the operator happens to
			// visit must not read them through the browser.
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		if origin := r.Header.Get("Origin"); origin != "" {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
		} else {
			h.Set("Access-Control-Allow-Origin", "*")
		}
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
			allowed := corsAllowedHeaders
			if asked := r.Header.Get("Access-Control-Request-Headers"); asked != "" {
				allowed = asked
			}
			h.Set("Access-Control-Allow-Headers", allowed)
			h.Set("Access-Control-Max-Age", "86400")
		} else {
			h.Set("Access-Control-Expose-Headers", "x-amzn-RequestId, x-amzn-ErrorType, x-amzn-ErrorMessage, Date")
		}
		next.ServeHTTP(w, r)
	})
}
