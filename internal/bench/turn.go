package bench

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// Relay port ranges of the two TURN servers (the same size).
const (
	ourRelayMin, ourRelayMax       = 40000, 44999
	coturnRelayMin, coturnRelayMax = 45000, 49999
)

// turnStep is one offered packet rate and what reached the sink.
type turnStep struct {
	Offered     float64 `json:"offered_pps"`
	Sent        float64 `json:"sent_pps"`
	Delivered   float64 `json:"delivered_pps"`
	Mbps        float64 `json:"delivered_mbps"`
	ServerCores float64 `json:"server_cores"`
	GenCores    float64 `json:"generator_cores"`
}

// turnRun is the stepped measurement of one TURN server at one size.
type turnRun struct {
	Target     string     `json:"target"`
	Size       int        `json:"packet_bytes"`
	Steps      []turnStep `json:"steps"`
	Saturation float64    `json:"saturation_pps"`
	Saturated  bool       `json:"saturated"` // a step overloaded the target (else Saturation is a lower bound)
	Mbps       float64    `json:"saturation_mbps"`
	Sent       int64      `json:"sent"`
	Lost       int64      `json:"lost"`
	Duplicates int64      `json:"duplicates"`
	Misrouted  int64      `json:"misrouted,omitempty"` // arrived at another allocation's socket or peer, or from its relayed address
}

// turnPlan is the shape and pace of a TURN run.
type turnPlan struct {
	direction                 string // clientToPeer or peerToClient
	allocs, senders, maxSteps int
	step                      time.Duration
	rates                     []float64
	growth                    float64
	fixed                     bool // the rates were chosen: no search for saturation
}

func turnPlanFor(opts Options) turnPlan {
	p := turnPlan{allocs: pick(opts.N, opts.Smoke, 4, 50), senders: 2, step: pick(opts.Duration, opts.Smoke, time.Second, 4*time.Second),
		maxSteps: 12, growth: 1.4, rates: []float64{20_000}, direction: opts.Direction}
	if p.direction == "" {
		p.direction = clientToPeer
	}
	if opts.Smoke {
		p.rates, p.maxSteps = []float64{500}, 1
	}
	if len(opts.Rates) > 0 {
		p.rates, p.maxSteps, p.fixed = opts.Rates, len(opts.Rates), true
	}
	return p
}

func runTURN(ctx context.Context, opts Options) (*Report, error) {
	plan := turnPlanFor(opts)
	if plan.direction != clientToPeer && plan.direction != peerToClient {
		return nil, fmt.Errorf("bench: turn --direction %q: want %s or %s", plan.direction, clientToPeer, peerToClient)
	}
	rep := newReport("turn", opts)
	rep.Settings = map[string]any{"allocations": plan.allocs, "step": plan.step.String(), "senders": plan.senders,
		"direction": plan.direction, "transport": turnTransport[plan.direction], "generator": turnGenerator[plan.direction],
		"saturated_when": "delivered < 90% of offered"}
	coturnBin, err := coturnPath()
	rep.check("coturn found", err == nil, "%s", orText(coturnBin, err))
	if err != nil {
		return rep, err
	}
	dir, err := os.MkdirTemp("", "switchboard-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var runs []*turnRun
	for _, size := range []int{200, 1200} {
		ours, err := measureOurTURN(ctx, opts, plan, dir, size)
		if err != nil {
			return rep, err
		}
		theirs, err := measureCoturn(ctx, opts, plan, dir, size)
		if err != nil {
			return rep, err
		}
		runs = append(runs, ours, theirs)
		for _, run := range []*turnRun{ours, theirs} {
			noteUnsaturated(rep, opts, fmt.Sprintf("turn through %s at %d bytes", run.Target, size), run.Saturated, len(run.Steps))
		}
		ratio := ours.Saturation / max(theirs.Saturation, 1)
		rep.Figures[fmt.Sprintf("ratio_to_coturn_%dB", size)] = ratio
		rep.Figures[fmt.Sprintf("saturation_pps_%dB", size)] = ours.Saturation
		rep.Figures[fmt.Sprintf("coturn_saturation_pps_%dB", size)] = theirs.Saturation
		rep.target(fmt.Sprintf("relayed packets/s vs coturn, %d-byte packets", size), ratio, 1.0, true, "x")
	}
	reportTURN(rep, opts, runs)
	return rep, nil
}

// How each direction's packets travel and are generated, for the report.
var (
	turnTransport = map[string]string{
		clientToPeer: "UDP, ChannelData client to peer",
		peerToClient: "UDP, peer to client: plain datagrams to the relayed address, ChannelData to the client",
	}
	turnGenerator = map[string]string{
		clientToPeer: "pion/turn client for allocate/permission/bind, sendmmsg ChannelData; sink recvmmsg",
		peerToClient: "pion/turn client for allocate/permission/bind; sinks sendmmsg to the relayed addresses; client sockets recvmmsg, ChannelData counted per allocation",
	}
)

func orText(s string, err error) string {
	if err != nil {
		return err.Error()
	}
	return s
}

// measureOurTURN starts the server with its embedded relay on loopback
// and measures it.
func measureOurTURN(ctx context.Context, opts Options, plan turnPlan, dir string, size int) (*turnRun, error) {
	sub, err := os.MkdirTemp(dir, "ours-")
	if err != nil {
		return nil, err
	}
	yaml := limitsYAML(fmt.Sprintf(`turn:
  udp_addr: 127.0.0.1:0
  tcp_addr: ""
  tls_addr: ""
  relay_ip: 127.0.0.1
  relay_port_min: %d
  relay_port_max: %d
  allow_peers: ["127.0.0.0/8"]
  bandwidth_bits_per_second: 0
  max_allocations_per_credential: 0
  max_allocations_per_channel: 0
  max_allocations_per_account: 0
`, ourRelayMin, ourRelayMax))
	srv, err := startServer(ctx, opts, sub, serverSpec{yaml: yaml})
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	server, user, pass, err := ourTURNCredentials(ctx, srv)
	if err != nil {
		return nil, err
	}
	prof := profiler{addr: srv.Pprof, dir: opts.Out}
	return measureTURN(ctx, opts, plan, "switchboard", srv.pid(), server, user, pass, "switchboard", size, prof, fmt.Sprintf("turn-%dB", size))
}

// ourTURNCredentials asks GetIceServerConfig for a credential and the UDP
// address of the relay.
func ourTURNCredentials(ctx context.Context, srv *server) (*net.UDPAddr, string, string, error) {
	kvs, err := srv.Client(1)
	if err != nil {
		return nil, "", "", err
	}
	arns, err := createChannels(ctx, srv, "bench-turn", 1, 1)
	if err != nil {
		return nil, "", "", err
	}
	ep, err := kvs.GetSignalingChannelEndpoint(ctx, arns[0], kvsapi.RoleViewer)
	if err != nil {
		return nil, "", "", err
	}
	servers, err := kvs.GetIceServerConfig(ctx, ep.HTTPS, arns[0], "bench")
	if err != nil {
		return nil, "", "", err
	}
	for _, s := range servers {
		for _, uri := range s.Uris {
			if addr := udpTURNAddr(uri); addr != nil {
				return addr, s.Username, s.Password, nil
			}
		}
	}
	return nil, "", "", fmt.Errorf("bench: GetIceServerConfig returned no turn: UDP URI: %+v", servers)
}

// udpTURNAddr parses turn:host:port?transport=udp.
func udpTURNAddr(uri string) *net.UDPAddr {
	rest, ok := strings.CutPrefix(uri, "turn:")
	if !ok {
		return nil
	}
	hostPort, query, _ := strings.Cut(rest, "?")
	if q, _ := url.ParseQuery(query); q.Get("transport") != "" && q.Get("transport") != "udp" {
		return nil
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return nil
	}
	p, _ := strconv.Atoi(port)
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil // loopback only
	}
	return &net.UDPAddr{IP: ip, Port: p}
}

// measureCoturn starts coturn and measures it.
func measureCoturn(ctx context.Context, opts Options, plan turnPlan, dir string, size int) (*turnRun, error) {
	sub, err := os.MkdirTemp(dir, "coturn-")
	if err != nil {
		return nil, err
	}
	ct, err := startCoturn(ctx, sub, coturnRelayMin, coturnRelayMax)
	if err != nil {
		return nil, err
	}
	defer ct.stop()
	user, pass := ct.credentials("bench", 10*time.Minute)
	return measureTURN(ctx, opts, plan, "coturn", ct.pid(), ct.addr, user, pass, ct.realm, size, profiler{}, "")
}

// measureTURN opens the allocations and runs the steps.
func measureTURN(ctx context.Context, opts Options, plan turnPlan, name string, pid int, server *net.UDPAddr,
	user, pass, realm string, size int, prof profiler, profName string) (*turnRun, error) {
	var sinks []*turnSink
	for range 2 {
		s, err := newSink()
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	allocs, err := openAllocs(server, user, pass, realm, plan.allocs, sinks)
	if err != nil {
		for _, s := range sinks {
			s.close()
		}
		return nil, fmt.Errorf("bench: %s: %w", name, err)
	}
	for i, a := range allocs {
		a.aim(plan.direction, sinks[i%len(sinks)])
	}
	run := &turnRun{Target: name, Size: size}
	rate := plan.rates[0]
	for i := 0; i < plan.maxSteps && ctx.Err() == nil; i++ {
		if i < len(plan.rates) {
			rate = plan.rates[i]
		}
		var wait func()
		if i == 3 {
			wait = prof.cpu(profName, plan.step)
		}
		st := turnOnce(ctx, allocs, turnCounts(plan.direction, allocs, sinks), plan, pid, rate, size)
		if wait != nil {
			wait()
		}
		run.Steps = append(run.Steps, st)
		if st.Delivered > run.Saturation {
			run.Saturation, run.Mbps = st.Delivered, st.Mbps
		}
		progressf(opts, "turn %s %dB: offered %.0f pps, sent %.0f, delivered %.0f pps (%.0f Mbit/s), server %.2f cores",
			name, size, st.Offered, st.Sent, st.Delivered, st.Mbps, st.ServerCores)
		if !plan.fixed && st.Delivered < 0.9*st.Offered {
			run.Saturated = true
			break
		}
		if i+1 >= len(plan.rates) {
			rate *= plan.growth
		}
	}
	time.Sleep(500 * time.Millisecond)
	tallyTURN(run, plan.direction, allocs, sinks)
	return run, nil
}

// turnCounts are the receivers of the measured packets: the sinks (client
// to peer) or the allocations' sockets (peer to client).
func turnCounts(direction string, allocs []*turnAlloc, sinks []*turnSink) []*turnCount {
	var counts []*turnCount
	if direction == peerToClient {
		for _, a := range allocs {
			counts = append(counts, &a.recv.count)
		}
		return counts
	}
	for _, s := range sinks {
		counts = append(counts, &s.count)
	}
	return counts
}

// tallyTURN closes the allocations and sinks and counts what was lost,
// duplicated or received by the wrong allocation: peer to client, on
// another allocation's socket; client to peer, at another allocation's
// peer or from another allocation's relayed address.
func tallyTURN(run *turnRun, direction string, allocs []*turnAlloc, sinks []*turnSink) {
	closeAllocs(allocs)
	for _, s := range sinks {
		s.close()
		if direction != peerToClient {
			run.Misrouted += s.misrouted.Load()
		}
	}
	for _, a := range allocs {
		run.Sent += int64(a.seq)
		from := &sinks[int(a.id)%len(sinks)].count
		if direction == peerToClient {
			from = &a.recv.count
			run.Misrouted += a.recv.count.misrouted(a.id)
		}
		run.Lost += int64(a.seq) - int64(from.got(a.id))
	}
	for _, c := range turnCounts(direction, allocs, sinks) {
		run.Duplicates += c.dups.Load()
	}
}

// turnOnce offers rate for one step.
func turnOnce(ctx context.Context, allocs []*turnAlloc, counts []*turnCount, plan turnPlan, pid int, rate float64, size int) turnStep {
	received := func() (n, b int64) {
		for _, c := range counts {
			n += c.received.Load()
			b += c.bytes.Load()
		}
		return n, b
	}
	n0, b0 := received()
	cpu := startCPU(pid)
	start := time.Now()
	sent, _ := turnSend(ctx, allocs, plan.senders, rate, size, plan.step)
	// Sent and delivered are rates over the same sending window: the
	// packets still in flight when it closes are counted after a short
	// wait, as those of the previous step were counted before it opened.
	window := time.Since(start).Seconds()
	time.Sleep(50 * time.Millisecond)
	serverCores, genCores := cpu.cores()
	n1, b1 := received()
	return turnStep{Offered: rate, Sent: float64(sent) / window, Delivered: float64(n1-n0) / window,
		Mbps: float64(b1-b0) * 8 / window / 1e6, ServerCores: serverCores, GenCores: genCores}
}

func reportTURN(rep *Report, opts Options, runs []*turnRun) {
	for _, run := range runs {
		t := Table{Title: fmt.Sprintf("%s, %d-byte packets, %s", run.Target, run.Size, rep.Settings["direction"]),
			Columns: []string{"offered pps", "sent pps", "delivered pps", "Mbit/s", "server cores", "generator cores"}}
		for _, s := range run.Steps {
			t.Rows = append(t.Rows, []string{count(s.Offered), count(s.Sent), count(s.Delivered), fmt.Sprintf("%.1f", s.Mbps),
				fmt.Sprintf("%.2f", s.ServerCores), fmt.Sprintf("%.2f", s.GenCores)})
		}
		rep.Tables = append(rep.Tables, t)
		rep.check(fmt.Sprintf("%s %dB: relayed, no duplicates", run.Target, run.Size),
			run.Duplicates == 0 && run.Misrouted == 0 && run.Sent > 0 && run.Sent > run.Lost,
			"%d sent, %d lost (UDP; loss is expected only past saturation), %d duplicated, %d to the wrong allocation",
			run.Sent, run.Lost, run.Duplicates, run.Misrouted)
		if opts.Smoke {
			rep.check(fmt.Sprintf("%s %dB: every packet relayed at the smoke rate", run.Target, run.Size), run.Lost == 0,
				"%d of %d lost", run.Lost, run.Sent)
		}
	}
	if path, err := plotTURN(opts.Out, fmt.Sprint(rep.Settings["direction"]), runs); err == nil {
		rep.Plots = append(rep.Plots, path)
	}
}
