package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// serve runs srv and the background components until ctx ends, then shuts
// them down: WebSocket clients first (GO_AWAY, drain, close), since the
// HTTP server does not track hijacked connections, then the HTTP server
// and the handlers it still runs, then the TURN relay and the hub's
// background work.
func (a *App) serve(ctx context.Context, srv *http.Server, ln net.Listener, parts *components) error {
	handlers := &handlerCount{}
	srv.Handler = handlers.wrap(srv.Handler)
	runCtx, stopRunning := context.WithCancel(context.Background())
	var background sync.WaitGroup
	iceErr := make(chan error, 1)
	background.Add(2)
	go func() {
		defer background.Done()
		if err := parts.hub.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("signaling hub stopped", "error", err)
		}
	}()
	go func() {
		defer background.Done()
		iceErr <- parts.ice.Run(runCtx)
	}()
	if parts.devCert != nil {
		background.Go(func() { parts.devCert.run(runCtx) })
	}
	defer func() { stopRunning(); background.Wait() }()
	select {
	case <-parts.ice.Ready():
	case err := <-iceErr:
		return fmt.Errorf("turn: %w", err)
	}
	// The TURN listeners and the relay address are logged once, by
	// ice.Service.Run, when it is ready.

	// TLS is terminated here rather than by ServeTLS so that TURN over TLS
	// can share the listener; net/http still speaks HTTP/2 on the *tls.Conn
	// connections it receives.
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(parts.ice.SplitTURN(tls.NewListener(ln, srv.TLSConfig))) }()
	close(a.ready)
	a.log.Info("serving", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case err := <-iceErr:
		_ = srv.Close()
		<-errc
		a.awaitHandlers(handlers)
		return fmt.Errorf("turn: %w", err)
	case <-ctx.Done():
	}
	return a.shutdown(srv, parts, errc, handlers)
}

// shutdown stops the server within the configured timeout. When the
// timeout passes first, srv.Close closes the connections but does not wait
// for their handlers, so shutdown then waits for them (a bounded time):
// the store is closed after serve returns and must not be closed under a
// handler still using it.
func (a *App) shutdown(srv *http.Server, parts *components, errc <-chan error, handlers *handlerCount) error {
	a.log.Info("shutting down", "timeout", a.cfg.Server.ShutdownTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(a.cfg.Server.ShutdownTimeout))
	defer cancel()
	if err := parts.hub.Shutdown(ctx); err != nil {
		a.log.Warn("signaling shutdown was cut short", "error", err)
	}
	err := srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	a.awaitHandlers(handlers)
	return err
}

// defaultHandlerGrace is how long a shutdown waits, after the HTTP server
// has been closed, for handlers that are still running. A handler whose
// connection was closed sees its request context cancelled and returns
// soon; one stuck past this (a store call on a stalled disk) gets
// store.ErrClosed when the store closes under it.
const defaultHandlerGrace = 5 * time.Second

// awaitHandlers waits, up to the handler grace, for every handler to
// return, and logs the ones that did not.
func (a *App) awaitHandlers(handlers *handlerCount) {
	grace := a.handlerGrace
	if grace <= 0 {
		grace = defaultHandlerGrace
	}
	if left := handlers.wait(grace); left > 0 {
		a.log.Warn("handlers still running after the shutdown; closing the store under them",
			"handlers", left, "waited", grace.String())
	}
}

// handlerCount counts the HTTP handlers running, so that a shutdown can
// wait for them (http.Server.Close does not).
type handlerCount struct {
	mu      sync.Mutex
	running int
	idle    chan struct{} // closed when running drops to 0; nil while no one waits
}

// wrap counts next's calls while they run.
func (h *handlerCount) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.running++
		h.mu.Unlock()
		defer h.leave()
		next.ServeHTTP(w, r)
	})
}

func (h *handlerCount) leave() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running--
	if h.running == 0 && h.idle != nil {
		close(h.idle)
		h.idle = nil
	}
}

// wait waits up to timeout for no handler to be running and returns how
// many still are.
func (h *handlerCount) wait(timeout time.Duration) int {
	h.mu.Lock()
	if h.running == 0 {
		h.mu.Unlock()
		return 0
	}
	if h.idle == nil {
		h.idle = make(chan struct{})
	}
	idle := h.idle
	h.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-idle:
		return 0
	case <-timer.C:
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.running
	}
}
