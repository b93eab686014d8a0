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
// HTTP server does not track hijacked connections, then the HTTP server,
// then the TURN relay and the hub's background work.
func (a *App) serve(ctx context.Context, srv *http.Server, ln net.Listener, parts *components) error {
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
		return fmt.Errorf("turn: %w", err)
	case <-ctx.Done():
	}
	return a.shutdown(srv, parts, errc)
}

// shutdown stops the server within the configured timeout.
func (a *App) shutdown(srv *http.Server, parts *components, errc <-chan error) error {
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
	return err
}
