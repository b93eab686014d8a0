package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	runpprof "runtime/pprof"
	"runtime/trace"
	"sync"
	"time"
)

// ProfileEnv names the environment variable that makes any switchboard
// process serve Go's profiling endpoints (net/http/pprof) on the given
// loopback address. The bench sets it on the server it starts when asked
// to profile; it is never set otherwise. Like every variable our own
// tools pass among themselves it starts with SBDEV_ and not SWITCHBOARD_,
// so that the server, which warns about SWITCHBOARD_* variables that are
// no setting, leaves it alone, and no future flag can take its name.
const ProfileEnv = "SBDEV_BENCH_PPROF"

// StartProfilerFromEnv serves /debug/pprof/ on the loopback address named
// by ProfileEnv, if it is set, and says where on stderr. Non-loopback
// addresses are refused.
func StartProfilerFromEnv() {
	addr := os.Getenv(ProfileEnv)
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(os.Stderr, "switchboard: %s must be a loopback host:port, got %q\n", ProfileEnv, addr)
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "switchboard: pprof: %v\n", err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	fmt.Fprintf(os.Stderr, "switchboard: pprof listening on %s\n", ln.Addr())
	go func() { _ = http.Serve(ln, mux) }() //nolint:gosec // loopback only, for the bench
}

// profiler collects profiles of the server under test into a directory.
type profiler struct {
	addr   string // "" when profiling is off
	dir    string
	prefix string // put before every file name, to tell a baseline's profiles apart
}

// cpu records, in the background, CPU profiles of d of the server under
// test (NAME.cpu.pprof) and of this generator (NAME.generator.cpu.pprof),
// then the server's allocations since it started (NAME.allocs.pprof), and
// execution traces of both for traceLength from the middle of d
// (NAME.trace, NAME.generator.trace: where goroutines waited, and the GC
// cycles). It returns a function that waits for all of them. The
// generator shares the machine, so its cost is half of what bounds a rate.
func (p profiler) cpu(name string, d time.Duration) func() {
	if p.addr == "" {
		return func() {}
	}
	name = p.prefix + name
	var wg sync.WaitGroup
	wg.Go(func() {
		p.fetch(fmt.Sprintf("/debug/pprof/profile?seconds=%d", max(int(d.Seconds()), 1)), name+".cpu.pprof", d+30*time.Second)
		p.fetch("/debug/pprof/allocs", name+".allocs.pprof", time.Minute)
	})
	wg.Go(func() {
		p.recordSelf(name+".generator.cpu.pprof", d, runpprof.StartCPUProfile, runpprof.StopCPUProfile)
	})
	if d >= 2*traceLength {
		wg.Go(func() {
			time.Sleep((d - traceLength) / 2)
			p.fetch(fmt.Sprintf("/debug/pprof/trace?seconds=%d", int(traceLength.Seconds())), name+".trace", traceLength+30*time.Second)
		})
		wg.Go(func() {
			time.Sleep((d - traceLength) / 2)
			p.recordSelf(name+".generator.trace", traceLength, trace.Start, trace.Stop)
		})
	}
	return wg.Wait
}

// traceLength is the length of the execution traces: they grow by a few
// megabytes a second under load.
const traceLength = 2 * time.Second

// recordSelf records one of this process's profiles for d into file:
// start begins it, stop ends it. It gives up quietly when that kind of
// profile is already running.
func (p profiler) recordSelf(file string, d time.Duration, start func(io.Writer) error, stop func()) {
	f, err := p.create(file)
	if err != nil {
		return
	}
	defer f.Close()
	if err := start(f); err != nil {
		return
	}
	time.Sleep(d)
	stop()
}

// heap records the server's live heap (after a GC) and goroutine stacks,
// and this generator's live heap (NAME.generator.heap.pprof): what the
// generator holds per connection is memory it must grow into, which
// costs CPU on the same two cores.
func (p profiler) heap(name string) {
	if p.addr == "" {
		return
	}
	name = p.prefix + name
	p.fetch("/debug/pprof/heap?gc=1", name+".heap.pprof", time.Minute)
	p.fetch("/debug/pprof/goroutine", name+".goroutine.pprof", time.Minute)
	f, err := p.create(name + ".generator.heap.pprof")
	if err != nil {
		return
	}
	defer f.Close()
	runtime.GC()
	_ = runpprof.WriteHeapProfile(f)
}

func (p profiler) fetch(path, file string, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	f, err := p.create(file)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// create makes file in the profile directory.
func (p profiler) create(file string) (*os.File, error) {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return nil, err
	}
	return os.Create(filepath.Join(p.dir, file))
}
