package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// relayStep is one offered rate and what came of it.
type relayStep struct {
	Offered     float64 `json:"offered_per_s"`
	Sent        float64 `json:"sent_per_s"`
	Delivered   float64 `json:"delivered_per_s"`
	Missing     int64   `json:"missing_after_drain"`
	Refused     int64   `json:"refused"`           // messages the server refused to their sender
	Reconnects  int64   `json:"master_reconnects"` // masters the server dropped that connected again
	WindowFull  int64   `json:"window_full"`       // times senders waited for maxInFlight messages to be accounted for
	Latency     summary `json:"latency"`
	ServerCores float64 `json:"server_cores"`
	GenCores    float64 `json:"generator_cores"`
	Half        bool    `json:"half_saturation,omitempty"`
}

// relayRun is the stepped measurement of one target.
type relayRun struct {
	Target     string      `json:"target"`
	Steps      []relayStep `json:"steps"`
	Saturation float64     `json:"saturation_per_s"`
	// Saturated is whether a step overloaded the target; when the steps
	// ran out first, Saturation is only a lower bound.
	Saturated  bool             `json:"saturated"`
	Half       *relayStep       `json:"half_saturation"`
	Missing    int64            `json:"missing"`
	Superseded int64            `json:"superseded_offers"`
	Duplicates int64            `json:"duplicates"`
	Foreign    int64            `json:"foreign"`
	Refused    int64            `json:"refused"`
	Both       int64            `json:"delivered_and_refused"`
	Reasons    map[string]int64 `json:"refused_by_error_type,omitempty"`
	Reconnects int64            `json:"master_reconnects"`
	Sent       int64            `json:"sent"`
	SendErrors int64            `json:"send_errors"`
	FirstError string           `json:"first_error,omitempty"`
}

// relayPlan is the shape and pace of a relay run.
type relayPlan struct {
	channels, viewersPer, senders int
	step                          time.Duration
	rates                         []float64 // smoke: fixed; full: start, growth
	maxSteps                      int
	growth                        float64
	fixed                         bool // the rates were chosen: no search for saturation
}

func relayPlanFor(opts Options) relayPlan {
	p := relayPlan{channels: pick(opts.N, opts.Smoke, 4, 20), viewersPer: pick(0, opts.Smoke, 3, 10), senders: 4,
		step: pick(opts.Duration, opts.Smoke, 2*time.Second, 5*time.Second), maxSteps: 12, growth: 1.35}
	if opts.Smoke {
		p.rates, p.maxSteps = []float64{300, 600}, 2
	} else {
		p.rates = []float64{10_000}
	}
	if len(opts.Rates) > 0 {
		p.rates, p.maxSteps, p.fixed = opts.Rates, len(opts.Rates), true
	}
	return p
}

func runRelay(ctx context.Context, opts Options) (*Report, error) {
	plan := relayPlanFor(opts)
	rep := newReport("relay", opts)
	rep.Settings = map[string]any{"channels": plan.channels, "viewers_per_channel": plan.viewersPer, "senders": plan.senders,
		"step": plan.step.String(), "ice_payload_chars": icePayloadChars, "sdp_payload_chars": sdpPayloadChars,
		"sdp_share": fmt.Sprintf("1 in %d", sdpEvery), "max_in_flight": maxInFlight, "saturated_when": "delivered < 90% of offered, or messages refused, unaccounted for or masters dropped"}
	srv, stop, err := startScratchServer(ctx, opts, serverSpec{yaml: limitsYAML("  send_queue_length: 4096\n")})
	if err != nil {
		return nil, err
	}
	defer stop()
	arns, err := createChannels(ctx, srv, "bench-relay", plan.channels, 8)
	if err != nil {
		return nil, err
	}
	prof := profiler{addr: srv.Pprof, dir: opts.Out}
	subject, err := measureRelay(ctx, opts, plan, "switchboard", srv.pid(), newWSDialer(srv.wssEndpoint(), &srv.Creds, srv.PinnedTLS, 2), arns, prof)
	srv.stop()
	if err != nil {
		return nil, err
	}
	fwd, err := startForwarder(ctx, opts, filepath.Join(srv.DataDir, "tls"))
	if err != nil {
		return nil, err
	}
	defer fwd.stop()
	baseline, err := measureRelay(ctx, opts, plan, "bare forwarder", fwd.pid(), newWSDialer("wss://"+fwd.addr, nil, srv.PinnedTLS, 2), arns, profiler{addr: fwd.pprof, dir: opts.Out, prefix: "forwarder-"})
	fwd.stop()
	if err != nil {
		return nil, err
	}
	reportRelay(rep, opts, subject, baseline)
	return rep, nil
}

// measureRelay connects the rig to one target and runs the steps.
func measureRelay(ctx context.Context, opts Options, plan relayPlan, name string, pid int, d *wsDialer, arns []string, prof profiler) (*relayRun, error) {
	rig, err := connectRig(ctx, d, arns, plan.viewersPer)
	if err != nil {
		return nil, fmt.Errorf("relay %s: %w", name, err)
	}
	run := &relayRun{Target: name}
	rate := plan.rates[0]
	for i := 0; i < plan.maxSteps && ctx.Err() == nil; i++ {
		if i < len(plan.rates) {
			rate = plan.rates[i]
		}
		wait := func() {}
		if plan.fixed {
			wait = prof.cpu(fmt.Sprintf("relay-%.0f", rate), plan.step)
		}
		st := relayOnce(ctx, rig, plan, pid, rate)
		wait()
		run.Steps = append(run.Steps, st)
		run.Saturation = max(run.Saturation, st.Delivered)
		progressf(opts, "relay %s: offered %.0f/s, sent %.0f/s, delivered %.0f/s, p50 %s ms, p99 %s ms",
			name, st.Offered, st.Sent, st.Delivered, ms(st.Latency.P50), ms(st.Latency.P99))
		if !plan.fixed && (st.Delivered < 0.9*st.Offered || st.Missing > 0 || st.Refused > 0 || st.Reconnects > 0) {
			run.Saturated = true
			break
		}
		if i+1 >= len(plan.rates) {
			rate *= plan.growth
		}
	}
	if !opts.Smoke && !plan.fixed && ctx.Err() == nil {
		// The last step overloaded the target: let it catch up first.
		rig.settle(time.Minute)
		wait := prof.cpu("relay-half", plan.step)
		half := relayOnce(ctx, rig, plan, pid, run.Saturation/2)
		wait()
		half.Half = true
		run.Half = &half
		progressf(opts, "relay %s: half saturation %.0f/s: p99 %s ms", name, half.Offered, ms(half.Latency.P99))
	}
	run.Sent = rig.sent.Load()
	run.SendErrors = rig.sendErrs.Load()
	if e, ok := rig.firstErr.Load().(error); ok {
		run.FirstError = e.Error()
	}
	rig.drain(10 * time.Second)
	rig.close()
	tally := rig.verify()
	run.Missing, run.Superseded, run.Duplicates, run.Foreign, run.Both = tally.missing, tally.superseded, tally.dups, tally.foreign, tally.both
	run.Refused, run.Reasons, run.Reconnects = rig.refusals.Load(), rig.refusalReasons(), rig.reconnects.Load()
	return run, nil
}

// relayOnce offers rate for one step, waits for the stragglers and
// summarises.
func relayOnce(ctx context.Context, rig *relayRig, plan relayPlan, pid int, rate float64) relayStep {
	rig.stepStart.Store(sinceEpoch())
	rig.takeSamples()
	before := rig.received.Load()
	refusedBefore, reconnectsBefore, windowBefore := rig.refusals.Load(), rig.reconnects.Load(), rig.windowFull.Load()
	leftBefore := rig.leftBehind.Load() // unaccounted for by earlier steps
	cpu := startCPU(pid)
	start := time.Now()
	sent := rig.send(ctx, rate, plan.step, plan.senders)
	window := time.Since(start)
	delivered := rig.received.Load() - before
	serverCores, genCores := cpu.cores()
	unaccounted := rig.drain(10 * time.Second) // over the whole run so far
	rig.leftBehind.Store(max(unaccounted, 0))
	return relayStep{
		Offered: rate, Sent: float64(sent) / window.Seconds(), Delivered: float64(delivered) / window.Seconds(),
		Missing: unaccounted - leftBefore, Latency: summarize(rig.takeSamples()), ServerCores: serverCores, GenCores: genCores,
		Refused: rig.refusals.Load() - refusedBefore, Reconnects: rig.reconnects.Load() - reconnectsBefore,
		WindowFull: rig.windowFull.Load() - windowBefore,
	}
}

func reportRelay(rep *Report, opts Options, subject, baseline *relayRun) {
	for _, run := range []*relayRun{subject, baseline} {
		t := Table{Title: "relay through " + run.Target,
			Columns: []string{"offered/s", "sent/s", "delivered/s", "refused", "masters dropped", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "server cores", "generator cores"}}
		steps := run.Steps
		if run.Half != nil {
			steps = append(steps, *run.Half)
		}
		for _, s := range steps {
			label := count(s.Offered)
			if s.Half {
				label += " (half sat.)"
			}
			t.Rows = append(t.Rows, []string{label, count(s.Sent), count(s.Delivered), count(float64(s.Refused)), count(float64(s.Reconnects)), ms(s.Latency.P50), ms(s.Latency.P99),
				ms(s.Latency.P999), ms(s.Latency.Max), fmt.Sprintf("%.2f", s.ServerCores), fmt.Sprintf("%.2f", s.GenCores)})
		}
		rep.Tables = append(rep.Tables, t)
		rep.check("exactly once through "+run.Target+" (delivered once, or refused to its sender)",
			run.Missing == 0 && run.Duplicates == 0 && run.Foreign == 0 && run.Both == 0 && run.Sent > 0 && run.SendErrors == 0,
			"%d sent: %d refused %v, %d offers superseded in the mailbox, %d missing, %d duplicated, %d both delivered and refused; %d unknown frames, %d send errors, %d masters connected again %s",
			run.Sent, run.Refused, run.Reasons, run.Superseded, run.Missing, run.Duplicates, run.Both, run.Foreign, run.SendErrors, run.Reconnects, run.FirstError)
	}
	for _, run := range []*relayRun{subject, baseline} {
		noteUnsaturated(rep, opts, "relay through "+run.Target, run.Saturated, len(run.Steps))
	}
	ratio := subject.Saturation / max(baseline.Saturation, 1)
	rep.Figures["saturation_per_s"] = subject.Saturation
	rep.Figures["baseline_saturation_per_s"] = baseline.Saturation
	rep.Figures["ratio_to_bare_forwarder"] = ratio
	rep.target("messages delivered per second (saturation)", subject.Saturation, 50_000, true, "msg/s")
	rep.target("saturation ratio to the bare forwarder", ratio, 0.7, true, "x")
	if subject.Half != nil {
		rep.Figures["half_saturation_p99_ms"] = latencyMS(subject.Half.Latency, subject.Half.Latency.P99)
		rep.target("p99 latency at half saturation", latencyMS(subject.Half.Latency, subject.Half.Latency.P99), 10, false, "ms")
	}
	if path, err := plotRelay(opts.Out, subject, baseline); err == nil {
		rep.Plots = append(rep.Plots, path)
	}
}

// noteUnsaturated notes a stepped search for saturation that ran out of
// steps before any of them overloaded the target: its saturation figure
// is then a lower bound, and so is any ratio it is the numerator of (an
// upper bound for one it is the denominator of). Runs with chosen rates
// and smoke runs do not search, so they get no note.
func noteUnsaturated(rep *Report, opts Options, what string, saturated bool, steps int) {
	if saturated || opts.Smoke || len(opts.Rates) > 0 {
		return
	}
	rep.note("%s did not saturate within its %d steps: its saturation figure is a lower bound, and ratios with it are bounds, not measurements", what, steps)
}
