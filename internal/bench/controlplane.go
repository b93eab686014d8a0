package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-rtc/switchboard/client"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

// cpResult is one operation's throughput run.
type cpResult struct {
	Operation string  `json:"operation"`
	OK        int64   `json:"ok"`
	Failed    int64   `json:"failed"`
	PerSecond float64 `json:"per_second"`
	Latency   summary `json:"latency"`
	FirstErr  string  `json:"first_error,omitempty"`
	Server    float64 `json:"server_cores"`
	Gen       float64 `json:"generator_cores"`
}

func runControlPlane(ctx context.Context, opts Options) (*Report, error) {
	conc := pick(opts.Concurrency, opts.Smoke, 4, 32)
	d := pick(opts.Duration, opts.Smoke, 2*time.Second, 10*time.Second)
	const described = 100
	rep := newReport("controlplane", opts)
	rep.Settings = map[string]any{"clients": conc, "duration": d.String(), "described_channels": described,
		"client": "client.Client (SDK), one HTTP/1.1 keep-alive TLS connection per client", "durability": "bbolt, fsync per commit, concurrent writes batched"}
	srv, stop, err := startScratchServer(ctx, opts, serverSpec{yaml: limitsYAML("")})
	if err != nil {
		return nil, err
	}
	defer stop()
	names := make([]string, described)
	for i := range names {
		names[i] = fmt.Sprintf("bench-cp-%06d", i)
	}
	if _, err := createChannels(ctx, srv, "bench-cp", described, 8); err != nil {
		return nil, err
	}
	clients := make([]*client.Client, conc)
	for i := range clients {
		if clients[i], err = srv.Client(1); err != nil {
			return nil, err
		}
	}
	prof := profiler{addr: srv.Pprof, dir: opts.Out}
	describe := cpRun(ctx, srv.pid(), "DescribeSignalingChannel", clients, d, prof, func(ctx context.Context, kvs *client.Client, _, _ int) error {
		_, err := kvs.DescribeSignalingChannel(ctx, names[rand.IntN(len(names))]) //nolint:gosec // load, not security
		return err
	})
	progressf(opts, "controlplane: Describe %.0f/s, p50 %s ms, p99 %s ms", describe.PerSecond, ms(describe.Latency.P50), ms(describe.Latency.P99))
	create := cpRun(ctx, srv.pid(), "CreateSignalingChannel", clients, d, prof, func(ctx context.Context, kvs *client.Client, worker, i int) error {
		name := fmt.Sprintf("bench-new-%03d-%07d", worker, i)
		_, err := kvs.CreateSignalingChannel(ctx, &kvsapi.CreateSignalingChannelInput{ChannelName: &name})
		return err
	})
	progressf(opts, "controlplane: Create %.0f/s, p50 %s ms, p99 %s ms", create.PerSecond, ms(create.Latency.P50), ms(create.Latency.P99))
	listed, err := clients[0].ListAllSignalingChannels(ctx, "")
	listedN := len(listed)
	if err != nil {
		listedN = -1
	}
	reportControlPlane(rep, describe, create, described, listedN, err)
	return rep, nil
}

// cpRun runs op on every client in a loop for d and measures it.
func cpRun(ctx context.Context, pid int, name string, clients []*client.Client, d time.Duration, prof profiler,
	op func(ctx context.Context, kvs *client.Client, worker, i int) error) cpResult {
	res := cpResult{Operation: name}
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var all samples
	var wg sync.WaitGroup
	wait := prof.cpu("controlplane-"+name, d)
	cpu := startCPU(pid)
	start := time.Now()
	for w, kvs := range clients {
		wg.Go(func() {
			var mine samples
			for i := 0; time.Since(start) < d && ctx.Err() == nil; i++ {
				t0 := time.Now()
				err := op(ctx, kvs, w, i)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if res.FirstErr == "" {
						res.FirstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, time.Since(t0))
				ok.Add(1)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.Server, res.Gen = cpu.cores()
	wait()
	res.OK, res.Failed = ok.Load(), failed.Load()
	res.PerSecond = float64(res.OK) / elapsed.Seconds()
	res.Latency = summarize(all)
	return res
}

func reportControlPlane(rep *Report, describe, create cpResult, described, listed int, listErr error) {
	t := Table{Title: "control plane operations", Columns: []string{"operation", "ok", "failed", "per second", "p50 ms", "p99 ms", "max ms", "server cores", "generator cores"}}
	for _, r := range []cpResult{describe, create} {
		t.Rows = append(t.Rows, []string{r.Operation, fmt.Sprint(r.OK), fmt.Sprint(r.Failed), count(r.PerSecond), ms(r.Latency.P50),
			ms(r.Latency.P99), ms(r.Latency.Max), fmt.Sprintf("%.2f", r.Server), fmt.Sprintf("%.2f", r.Gen)})
		rep.check(r.Operation+" never failed", r.Failed == 0 && r.OK > 0, "%d ok, %d failed %s", r.OK, r.Failed, r.FirstErr)
	}
	rep.Tables = append(rep.Tables, t)
	rep.Figures["describe_per_s"], rep.Figures["create_per_s"] = describe.PerSecond, create.PerSecond
	rep.Figures["describe_p50_ms"], rep.Figures["describe_p99_ms"] = latencyMS(describe.Latency, describe.Latency.P50), latencyMS(describe.Latency, describe.Latency.P99)
	rep.Figures["create_p50_ms"], rep.Figures["create_p99_ms"] = latencyMS(create.Latency, create.Latency.P50), latencyMS(create.Latency, create.Latency.P99)
	rep.target("DescribeSignalingChannel per second", describe.PerSecond, 5000, true, "op/s")
	rep.target("CreateSignalingChannel per second (durable)", create.PerSecond, 1000, true, "op/s")
	want := described + int(create.OK)
	rep.check("every channel created is listed", listErr == nil && listed == want, "%d listed, %d expected (%v)", listed, want, listErr)
}
