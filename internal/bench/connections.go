package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// viewersPerChannel is how many viewers share a channel in the connections
// scenario; every channel also has its master.
const viewersPerChannel = 99

// fdReserve is how many descriptors below the open-file limit the
// scenario leaves for listeners, the database and metrics requests.
const fdReserve = 400

// parkingExpected tells whether the server parks idle connections here
// (it has a poller on Linux only).
const parkingExpected = runtime.GOOS == "linux"

// connTarget is one connection to open: a channel's master or a viewer.
type connTarget struct {
	arn, clientID string
}

// connResult is what opening the connections gave.
type connResult struct {
	conns      []*genConn
	handshakes samples
	failed     int
	firstErr   error
	elapsed    time.Duration
}

// connMeasure is what the connections scenario measured.
type connMeasure struct {
	opened, failed      int
	firstErr            error
	elapsed             time.Duration
	handshakes          summary
	before, after       procStat
	metricsBefore       map[string]float64 // scraped with before, when no connection was open
	metrics             map[string]float64 // scraped with after, while every connection is held
	held, left, parked  float64
	serverCores, genCor float64
	resumed             int64 // handshakes that resumed a session (with --resume-tls)
}

func runConnections(ctx context.Context, opts Options) (*Report, error) {
	n := pick(opts.N, opts.Smoke, 200, 100_000)
	conc := pick(opts.Concurrency, opts.Smoke, 16, 128)
	sources := pick(opts.Sources, opts.Smoke, 2, 8)
	hold := pick(opts.Duration, opts.Smoke, 2*time.Second, 20*time.Second)
	rep := newReport("connections", opts)
	rep.Settings = map[string]any{"connections": n, "concurrency": conc, "source_addresses": sources,
		"hold": hold.String(), "viewers_per_channel": viewersPerChannel, "tls": tlsSetting(opts.ClassicTLS, opts.ResumeTLS)}
	if fdLimit := int(raiseFileLimit(1 << 20)); n > fdLimit-fdReserve {
		// Both the server and this generator hold one descriptor per
		// connection; the hard limit cannot be raised without
		// CAP_SYS_RESOURCE.
		rep.note("asked for %d connections, but the open-file limit (RLIMIT_NOFILE) of this machine is %d and cannot be raised here; measured %d",
			n, fdLimit, fdLimit-fdReserve)
		rep.Settings["connections_asked"] = n
		n = fdLimit - fdReserve
		rep.Settings["connections"] = n
	}
	srv, stop, err := startScratchServer(ctx, opts, serverSpec{yaml: limitsYAML("")})
	if err != nil {
		return nil, err
	}
	defer stop()
	m, err := measureConnections(ctx, opts, srv, n, conc, sources, hold)
	if err != nil {
		return nil, err
	}
	reportConnections(rep, n, m, opts.ResumeTLS)
	return rep, nil
}

// measureConnections opens n connections, holds them, reads the server's
// memory, then closes them all and checks that the server let go of each.
func measureConnections(ctx context.Context, opts Options, srv *server, n, conc, sources int, hold time.Duration) (*connMeasure, error) {
	targets, err := connectionTargets(ctx, srv, n)
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	m := &connMeasure{}
	if m.before, err = readProcStat(srv.pid()); err != nil {
		return nil, err
	}
	m.metricsBefore, _ = srv.scrape(ctx)
	progressf(opts, "connections: opening %d connections, %d at a time, from %d source addresses", n, conc, sources)
	var resumed atomic.Int64
	tlsCfg := generatorTLS(srv.PinnedTLS, opts.ClassicTLS)
	if opts.ResumeTLS {
		tlsCfg = resumingTLS(tlsCfg, &resumed)
	}
	dialer := newWSDialer(srv.wssEndpoint(), &srv.Creds, tlsCfg, sources)
	cpu := startCPU(srv.pid())
	prof := profiler{addr: srv.Pprof, dir: opts.Out}
	waitProfile := prof.cpu("connections", 10*time.Second)
	res := openAll(ctx, opts, dialer, targets, conc)
	m.serverCores, m.genCor = cpu.cores()
	waitProfile()
	defer closeAll(res.conns)
	m.opened, m.failed, m.firstErr, m.elapsed, m.handshakes = len(res.conns), res.failed, res.firstErr, res.elapsed, summarize(res.handshakes)
	m.resumed = resumed.Load()

	progressf(opts, "connections: %d open, holding for %s", m.opened, hold)
	holdFor(ctx, hold)
	if parkingExpected {
		// Idle connections are parked after a second of silence.
		m.parked = srv.waitMetric(ctx, "switchboard_signaling_parked_connections", 30*time.Second,
			func(v float64) bool { return int(v) >= m.opened })
	}
	if m.after, err = readProcStat(srv.pid()); err != nil {
		return nil, err
	}
	m.metrics, _ = srv.scrape(ctx)
	prof.heap("connections")
	m.held = gauge(m.metrics, "switchboard_signaling_connections")
	closeAll(res.conns)
	res.conns = nil
	m.left = srv.waitMetric(ctx, "switchboard_signaling_connections", 60*time.Second, func(v float64) bool { return v == 0 })
	return m, nil
}

func reportConnections(rep *Report, n int, m *connMeasure, resume bool) {
	connectRate := float64(m.opened) / m.elapsed.Seconds()
	perConn := perConnection(float64(m.before.RSS), float64(m.after.RSS), m.opened)
	grown := func(metric string) float64 {
		return perConnection(gauge(m.metricsBefore, metric), gauge(m.metrics, metric), m.opened)
	}
	rep.Figures = map[string]float64{
		"connections_held": m.held, "connect_rate_per_s": connectRate,
		"handshake_p50_ms": latencyMS(m.handshakes, m.handshakes.P50), "handshake_p99_ms": latencyMS(m.handshakes, m.handshakes.P99),
		"rss_before_mib": mib(m.before.RSS), "rss_after_mib": mib(m.after.RSS), "rss_per_connection_kib": perConn / 1024,
		"heap_inuse_per_connection_kib":  grown("go_memstats_heap_inuse_bytes") / 1024,
		"stack_inuse_per_connection_kib": grown("go_memstats_stack_inuse_bytes") / 1024,
		"goroutines":                     m.metrics["go_goroutines"],
		"parked_connections":             m.parked,
		"server_cores_while_connecting":  m.serverCores, "generator_cores_while_connecting": m.genCor,
	}
	rep.Tables = append(rep.Tables, Table{
		Title:   "connections held by the server under test",
		Columns: []string{"asked", "opened", "failed", "held", "connects/s", "handshake p50 ms", "p99 ms", "RSS before MiB", "RSS after MiB", "KiB/conn", "goroutines", "server cores", "generator cores"},
		Rows: [][]string{{fmt.Sprint(n), fmt.Sprint(m.opened), fmt.Sprint(m.failed), count(m.held), count(connectRate),
			ms(m.handshakes.P50), ms(m.handshakes.P99), trimFloat(mib(m.before.RSS)), trimFloat(mib(m.after.RSS)), fmt.Sprintf("%.1f", perConn/1024),
			count(m.metrics["go_goroutines"]), fmt.Sprintf("%.2f", m.serverCores), fmt.Sprintf("%.2f", m.genCor)}},
	})
	rep.target("concurrent verified TLS connections held", m.held, 100_000, true, "conns")
	rep.target("server memory per idle connection", perConn/1024, 16, false, "KiB")
	rep.target("connect rate", connectRate, 2000, true, "conn/s")
	errText := "none"
	if m.firstErr != nil {
		errText = m.firstErr.Error()
	}
	rep.check("every connection opened", m.opened == n && m.failed == 0, "%d of %d opened, %d failed (first error: %s)", m.opened, n, m.failed, errText)
	rep.check("every open connection held by the server", m.held == float64(m.opened), "server gauge %v, generator %d", m.held, m.opened)
	rep.check("every connection released after close", m.left == 0, "server gauge %v after closing all", m.left)
	if resume {
		rep.Figures["resumed_handshakes"] = float64(m.resumed)
		// The first connects, one per concurrent dial, find no ticket yet.
		rep.check("connections resumed TLS sessions", m.resumed > 0 && m.resumed >= int64(m.opened)/2,
			"%d of %d handshakes resumed a session", m.resumed, m.opened)
	}
	if parkingExpected {
		rep.check("every idle connection parked (no goroutine)", m.parked == float64(m.opened),
			"server parked gauge %v, generator %d", m.parked, m.opened)
	}
}

// connectionTargets creates the channels and lists the connections: per
// channel its master, then up to viewersPerChannel viewers.
func connectionTargets(ctx context.Context, srv *server, n int) ([]connTarget, error) {
	channels := (n + viewersPerChannel) / (viewersPerChannel + 1)
	arns, err := createChannels(ctx, srv, "bench-conn", channels, 32)
	if err != nil {
		return nil, err
	}
	targets := make([]connTarget, 0, n)
	for i := 0; len(targets) < n; i++ {
		ch := i / (viewersPerChannel + 1)
		slot := i % (viewersPerChannel + 1)
		id := ""
		if slot > 0 {
			id = fmt.Sprintf("viewer-%d", slot)
		}
		targets = append(targets, connTarget{arn: arns[ch], clientID: id})
	}
	return targets, nil
}

// createChannels creates count channels named prefix-NNNNNN with conc
// concurrent SDK clients and returns their ARNs in order.
func createChannels(ctx context.Context, srv *server, prefix string, count, conc int) ([]string, error) {
	kvs, err := srv.Client(conc)
	if err != nil {
		return nil, err
	}
	arns := make([]string, count)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(conc, count) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < count && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				name := fmt.Sprintf("%s-%06d", prefix, i)
				out, err := kvs.CreateSignalingChannel(ctx, &kvsapi.CreateSignalingChannelInput{ChannelName: &name})
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("create %s: %w", name, err)
				}
				if err == nil {
					arns[i] = out.ChannelARN
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return arns, firstErr
}

// openAll opens every target with conc connects in flight. Each open
// connection keeps a reader so that it answers the server's pings while it
// is held.
func openAll(ctx context.Context, opts Options, d *wsDialer, targets []connTarget, conc int) connResult {
	conns := make([]*genConn, len(targets))
	var (
		next     atomic.Int64
		opened   atomic.Int64
		mu       sync.Mutex
		res      connResult
		wg       sync.WaitGroup
		deadline = time.Now().Add(10 * time.Minute)
	)
	start := time.Now()
	for range conc {
		wg.Go(func() {
			var mine samples
			for i := int(next.Add(1) - 1); i < len(targets) && ctx.Err() == nil && time.Now().Before(deadline); i = int(next.Add(1) - 1) {
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				ws, took, err := d.dial(dctx, targets[i].arn, targets[i].clientID)
				cancel()
				if err != nil {
					mu.Lock()
					res.failed++
					if res.firstErr == nil {
						res.firstErr = err
					}
					mu.Unlock()
					continue
				}
				go ws.readLoop(nil)
				conns[i] = ws
				mine = append(mine, took)
				if k := opened.Add(1); k%10_000 == 0 {
					progressf(opts, "connections: %d open (%.0f/s)", k, float64(k)/time.Since(start).Seconds())
				}
			}
			mu.Lock()
			res.handshakes = append(res.handshakes, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	for _, c := range conns {
		if c != nil {
			res.conns = append(res.conns, c)
		}
	}
	return res
}

// closeAll drops every connection without a close handshake.
func closeAll(conns []*genConn) {
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(conns); i += workers {
				_ = conns[i].closeNow()
			}
		})
	}
	wg.Wait()
}

// holdFor waits d or until ctx ends.
func holdFor(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// perConnection is what a quantity grew by while the connections were
// opened, per connection held: NaN when none was, so that a run that
// opened nothing reports no memory per connection (and meets no memory
// goal).
func perConnection(before, after float64, opened int) float64 {
	if opened <= 0 {
		return math.NaN()
	}
	return (after - before) / float64(opened)
}

// gauge returns a scraped metric, or NaN when it was not read.
func gauge(metrics map[string]float64, name string) float64 {
	if v, ok := metrics[name]; ok {
		return v
	}
	return math.NaN()
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// generatorTLS is the generator's TLS configuration: Go's defaults (the
// hybrid post-quantum X25519MLKEM768 key share first, as current browsers
// send), or with classic set, X25519 alone, as the KVS C SDK built with
// OpenSSL 1.1 or mbedTLS offers. The server's configuration is the same
// either way.
func generatorTLS(pinned *tls.Config, classic bool) *tls.Config {
	if !classic {
		return pinned
	}
	cfg := pinned.Clone()
	cfg.CurvePreferences = []tls.CurveID{tls.X25519}
	return cfg
}

// resumingTLS returns cfg with a session cache, so that connects resume
// the sessions of earlier ones with the server's tickets (TLS 1.3 PSK with
// a fresh key exchange: the server signs nothing and the generator
// verifies nothing, but both still run the key agreement). Each handshake
// that resumed is counted in resumed.
func resumingTLS(cfg *tls.Config, resumed *atomic.Int64) *tls.Config {
	out := cfg.Clone()
	out.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	verify := cfg.VerifyConnection
	out.VerifyConnection = func(cs tls.ConnectionState) error {
		if cs.DidResume {
			resumed.Add(1)
		}
		if verify != nil {
			return verify(cs)
		}
		return nil
	}
	return out
}

func tlsSetting(classic, resume bool) string {
	handshake := "full handshake"
	if resume {
		handshake = "sessions resumed with tickets where the generator holds one (--resume-tls)"
	}
	if classic {
		return "TLS 1.3, " + handshake + ", generator offers X25519 only (--classic-tls), leaf pinned by the generator"
	}
	return "TLS 1.3, " + handshake + " (Go defaults: X25519MLKEM768), leaf pinned by the generator"
}
