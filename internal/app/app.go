// Package app is the composition root of `switchboard serve`: it builds
// every component from the configuration, serves them on one TLS listener,
// and shuts them down. It is the only package that chooses backends.
//
// Run builds in dependency order: the data directory, the bbolt store,
// the root credentials (generated once when none are configured) and the
// credential source, the HTTPS listener, the advertised host, the TLS
// configuration (the operator's certificate or the development CA) and
// the metrics registry. build then wires the services: the channel
// service, the SigV4 authenticator, the in-memory bus, the signaling hub,
// the ICE service (embedded TURN relay and GetIceServerConfig credentials),
// the REST API, the web console when it is enabled, and the router. The
// banner is printed next; serve starts the hub and the TURN relay, waits
// for the relay to be ready, and only then accepts HTTPS connections.
//
// Shutdown runs the other way: WebSocket clients first (GO_AWAY, drain,
// close), then the HTTP server and the handlers it still runs (waited
// for, a bounded time, even when the shutdown timeout has passed), then
// the TURN relay and the hub's background work, and last the bus, the
// listener and the store.
package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/bus/memory"
	"github.com/switchboard-rtc/switchboard/internal/channel"
	"github.com/switchboard-rtc/switchboard/internal/config"
	"github.com/switchboard-rtc/switchboard/internal/console"
	"github.com/switchboard-rtc/switchboard/internal/controlplane"
	"github.com/switchboard-rtc/switchboard/internal/devtls"
	"github.com/switchboard-rtc/switchboard/internal/ice"
	"github.com/switchboard-rtc/switchboard/internal/netpark"
	"github.com/switchboard-rtc/switchboard/internal/signaling"
	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/internal/store/bolt"
)

// App is one running server.
type App struct {
	cfg    config.Config
	log    *slog.Logger
	stdout io.Writer

	// bodyReadTimeout bounds how long a REST request body may take to
	// arrive; zero means controlplane.DefaultBodyReadTimeout. There is no
	// configuration key for it; tests shorten it.
	bodyReadTimeout time.Duration
	// writeTimeout bounds how long a reply may take to be written once it
	// has begun; zero means defaultWriteTimeout. Tests shorten it.
	writeTimeout time.Duration
	// now is the clock of the control plane's rate limits; time.Now when
	// nil. Tests stop it.
	now func() time.Time
	// wrapStore, when set, wraps the opened store before the services get
	// it. Tests slow the store down with it.
	wrapStore func(store.Store) store.Store
	// handlerGrace bounds the wait for running handlers after the HTTP
	// server has been closed; zero means defaultHandlerGrace. Tests
	// shorten it.
	handlerGrace time.Duration

	mu    sync.Mutex
	addr  net.Addr
	ready chan struct{}
}

// Options are what the command gives the app besides configuration.
type Options struct {
	Logger *slog.Logger
	// Stdout receives the start-up banner (addresses, credentials, how to
	// connect); io.Discard when nil.
	Stdout io.Writer
}

// New prepares an app. It starts nothing and touches no files.
func New(cfg config.Config, opts Options) *App {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out := opts.Stdout
	if out == nil {
		out = io.Discard
	}
	return &App{cfg: cfg, log: log, stdout: out, ready: make(chan struct{})}
}

// Ready is closed once the server accepts connections.
func (a *App) Ready() <-chan struct{} { return a.ready }

// Addr returns the listener address once Ready is closed.
func (a *App) Addr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// Run builds the components, serves until ctx is cancelled, then shuts
// down gracefully within the configured timeout. It returns after every
// goroutine it started has ended.
func (a *App) Run(ctx context.Context) error {
	if err := makeDataDir(a.cfg.Server.DataDir); err != nil {
		return err
	}
	st, err := bolt.Open(filepath.Join(a.cfg.Server.DataDir, "switchboard.db"), bolt.Options{Logger: a.log})
	if err != nil {
		return err
	}
	defer st.Close()
	var services store.Store = st
	if a.wrapStore != nil {
		services = a.wrapStore(st)
	}

	keys, generated, err := rootKeys(a.cfg)
	if err != nil {
		return err
	}
	source, err := credentialSource(a.cfg, keys)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	tcp, err := net.Listen("tcp", a.cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Server.Addr, err)
	}
	// Sockets that can be parked: an idle signaling connection then waits
	// for its client with no goroutine (internal/netpark).
	ln := netpark.NewListener(tcp)
	defer ln.Close()
	publicHost := advertisedHost(a.cfg.Server.PublicHost, ln.Addr())
	tlsCfg, bundle, renewal, err := a.tlsConfig(publicHost)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	parts, err := a.build(services, source, publicHost, tlsCfg, reg)
	if err != nil {
		return err
	}
	parts.devCert = renewal
	defer parts.bus.Close()
	srv := &http.Server{
		Handler:           parts.handler,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.With("component", "http").Handler(), slog.LevelDebug),
	}
	a.mu.Lock()
	a.addr = ln.Addr()
	a.mu.Unlock()
	a.printBanner(bannerInfo{addr: ln.Addr(), publicHost: publicHost, keys: keys, generated: generated, bundle: bundle})
	return a.serve(ctx, srv, ln, parts)
}

// tlsConfig loads the operator's certificate, or makes (once) a development
// CA and certificate in the data directory; then renewal, not nil, keeps
// the development certificate current while the server runs.
func (a *App) tlsConfig(publicHost string) (cfg *tls.Config, bundle *devtls.Bundle, renewal *devCertRenewal, err error) {
	certFile, keyFile := a.cfg.Server.TLSCert, a.cfg.Server.TLSKey
	var devOpts devtls.Options
	if certFile == "" {
		hosts := []string{hostOnly(publicHost)}
		if name, err := os.Hostname(); err == nil && devtls.ValidDNSName(name) {
			hosts = append(hosts, name)
		}
		devOpts = devtls.Options{Dir: filepath.Join(a.cfg.Server.DataDir, "tls"), Hosts: hosts, Logger: a.log}
		bundle, err = devtls.Ensure(devOpts)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("development TLS: %w", err)
		}
		certFile, keyFile = bundle.CertFile, bundle.KeyFile
	}
	reloader, err := devtls.NewReloader(certFile, keyFile, a.log)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("TLS certificate: %w", err)
	}
	if bundle != nil {
		renewal = &devCertRenewal{opts: devOpts, reloader: reloader, every: devCertCheckEvery}
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: reloader.GetCertificate,
		// HTTP/1.1 must stay available: the KVS C SDK pins it by ALPN.
		NextProtos: []string{"h2", "http/1.1"},
	}, bundle, renewal, nil
}

// components are the long-running parts behind the listener.
type components struct {
	handler http.Handler
	hub     *signaling.Hub
	bus     *memory.Bus
	ice     *ice.Service
	devCert *devCertRenewal // nil unless the certificate is a development one
}

// build wires the services behind the router.
func (a *App) build(st store.Store, source auth.CredentialSource, publicHost string, tlsCfg *tls.Config, reg *prometheus.Registry) (*components, error) {
	var hub *signaling.Hub // set below; channel deletion reaches it through this variable
	channels := channel.NewService(channel.Options{
		Store:  st,
		Region: a.cfg.Server.Region,
		Config: a.cfg.Channels,
		Logger: a.log.With("component", "channel"),
		OnDeleted: func(_ context.Context, ch store.Channel) {
			hub.CloseChannel(ch.Account, ch.ARN)
		},
		OnUpdated: func(_ context.Context, ch store.Channel) {
			hub.UpdateChannelTTL(ch.Account, ch.ARN, time.Duration(ch.MessageTTL)*time.Second)
		},
	})
	authn := auth.NewAuthenticator(auth.Options{Source: source, Region: a.cfg.Server.Region})
	bus := memory.New(memory.Options{})
	hub, err := signaling.NewHub(a.cfg.Signaling, signaling.Deps{
		Authenticator: authn,
		Channels:      channelDirectory{channels: channels},
		Bus:           bus,
		Logger:        a.log,
		Registerer:    reg,
	})
	if err != nil {
		return nil, fmt.Errorf("signaling: %w", err)
	}
	if a.cfg.Turn.Embedded() && a.cfg.Turn.OnHTTPSPort {
		// Browsers' TURN-over-TLS may announce itself by ALPN.
		tlsCfg.NextProtos = append(tlsCfg.NextProtos, ice.ALPNProtocol)
	}
	relay, err := ice.New(a.cfg.Turn, ice.Deps{
		Secrets:    st,
		TLS:        tlsCfg,
		PublicHost: publicHost,
		Region:     a.cfg.Server.Region,
		Logger:     a.log,
		Registerer: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("turn: %w", err)
	}
	api, err := controlplane.New(controlplane.Options{
		Channels:        channels,
		Auth:            authn,
		Endpoints:       controlplane.Endpoints{HTTPS: "https://" + publicHost, WSS: "wss://" + publicHost},
		IceServers:      relay,
		Alexa:           hub,
		Presence:        hub,
		MaxBodyBytes:    a.cfg.Server.MaxBodyBytes,
		BodyReadTimeout: a.bodyTimeout(),
		Limits:          a.cfg.ControlPlane,
		Now:             a.now,
		Logger:          a.log,
		Registerer:      reg,
	})
	if err != nil {
		return nil, err
	}
	var web http.Handler // nil when the console is turned off
	if a.cfg.Console.Enabled {
		c, err := console.New(a.cfg.Console, console.Deps{
			Region:         a.cfg.Server.Region,
			DevCredentials: a.devCredentials(),
			// The endpoints GetSignalingChannelEndpoint hands out (above).
			PublicHTTPS: "https://" + publicHost,
			PublicWSS:   "wss://" + publicHost,
			Logger:      a.log,
		})
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		web = c.Handler()
	}
	return &components{
		handler: newRouter(routes{api: api, signaling: hub, store: st, metrics: reg, console: web, bodyTimeout: a.bodyTimeout(),
			writeTimeout: a.replyWriteTimeout(), shuttingDown: hub.ShuttingDown}),
		hub: hub,
		bus: bus,
		ice: relay,
	}, nil
}

// bodyTimeout is how long a request body may take to arrive.
func (a *App) bodyTimeout() time.Duration {
	if a.bodyReadTimeout > 0 {
		return a.bodyReadTimeout
	}
	return controlplane.DefaultBodyReadTimeout
}

// defaultWriteTimeout is how long a reply may take to be written once it
// has begun. Replies are small (a console file is under 20 KiB, /metrics
// some tens of KiB), so this is generous even on a poor link, and a client
// that stops reading loses its connection after it.
const defaultWriteTimeout = 30 * time.Second

// replyWriteTimeout is how long a reply may take to be written.
func (a *App) replyWriteTimeout() time.Duration {
	if a.writeTimeout > 0 {
		return a.writeTimeout
	}
	return defaultWriteTimeout
}

// devCredentials offers the console's one-click sign-in the root keys the
// server generated for itself (Run has already created or read them in
// the data directory); configured keys are never offered.
func (a *App) devCredentials() func() (accessKeyID, secret string, ok bool) {
	if a.cfg.Credentials.AccessKeyID != "" {
		return nil
	}
	keys, _, err := rootKeys(a.cfg)
	if err != nil {
		return nil
	}
	return func() (string, string, bool) { return keys.AccessKeyID, keys.SecretAccessKey, true }
}
