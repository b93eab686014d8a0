package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	exptrace "golang.org/x/exp/trace"
)

// Scheduling delay: how long goroutines waited for a CPU.
//
// On a machine that the server and its generator share, latency under
// load is made less of work than of waiting: a goroutine the network woke
// up stands in a run queue until a thread of its process is on a core.
// An execution trace (NAME.trace, saved with --profile) records every
// goroutine state change; schedDelays measures, for each time a goroutine
// became runnable, how long it waited before it ran, grouped by what made
// it runnable. `go tool trace -pprof=sched` gives the same waits summed
// by stack; the percentiles here show the tail.

// Why a goroutine became runnable.
const (
	delayWoken     = "woken (network, channel, lock, timer)"
	delayYielded   = "yielded (runtime.Gosched)"
	delayPreempted = "preempted"
	delayStarted   = "started (go statement)"
	delaySyscall   = "back from a system call"
)

// delayStats summarises the waits of one cause.
type delayStats struct {
	Cause                string
	Count                int
	P50, P99, P999, Max  time.Duration
	Total                time.Duration
	PerSecondOfTraceTime float64 // waits per second of trace
}

// schedDelays reads an execution trace and returns the run-queue waits by
// cause, the most frequent first.
func schedDelays(r io.Reader) ([]delayStats, error) {
	tr, err := exptrace.NewReader(r)
	if err != nil {
		return nil, err
	}
	type pending struct {
		since exptrace.Time
		cause string
	}
	runnable := map[exptrace.GoID]pending{}
	waits := map[string][]time.Duration{}
	var first, last exptrace.Time
	for {
		ev, err := tr.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if first == 0 {
			first = ev.Time()
		}
		last = ev.Time()
		if ev.Kind() != exptrace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != exptrace.ResourceGoroutine {
			continue
		}
		id := st.Resource.Goroutine()
		from, to := st.Goroutine()
		switch {
		case to == exptrace.GoRunnable:
			runnable[id] = pending{since: ev.Time(), cause: delayCause(from, st.Stack)}
		case from == exptrace.GoRunnable && to == exptrace.GoRunning:
			if p, ok := runnable[id]; ok {
				waits[p.cause] = append(waits[p.cause], ev.Time().Sub(p.since))
			}
			delete(runnable, id)
		case from == exptrace.GoRunnable:
			delete(runnable, id)
		}
	}
	span := last.Sub(first).Seconds()
	stats := make([]delayStats, 0, len(waits))
	for cause, ds := range waits {
		stats = append(stats, summarizeWaits(cause, ds, span))
	}
	slices.SortFunc(stats, func(a, b delayStats) int { return b.Count - a.Count })
	return stats, nil
}

// delayCause names why a goroutine in state from became runnable; stack
// is the stack of that transition.
func delayCause(from exptrace.GoState, stack exptrace.Stack) string {
	switch from {
	case exptrace.GoNotExist:
		return delayStarted
	case exptrace.GoSyscall:
		return delaySyscall
	case exptrace.GoRunning:
		for f := range stack.Frames() {
			if f.Func == "runtime.Gosched" {
				return delayYielded
			}
		}
		return delayPreempted
	}
	return delayWoken
}

func summarizeWaits(cause string, ds []time.Duration, span float64) delayStats {
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[int(q*float64(len(ds)-1))] }
	var total time.Duration
	for _, d := range ds {
		total += d
	}
	s := delayStats{Cause: cause, Count: len(ds), P50: at(0.50), P99: at(0.99), P999: at(0.999), Max: ds[len(ds)-1], Total: total}
	if span > 0 {
		s.PerSecondOfTraceTime = float64(len(ds)) / span
	}
	return s
}

// summarizeTraces writes NAME.sched.txt next to every NAME.trace in dir
// written since start, and returns the paths written.
func summarizeTraces(dir string, start time.Time) []string {
	traces, _ := filepath.Glob(filepath.Join(dir, "*.trace"))
	var written []string
	for _, path := range traces {
		if info, err := os.Stat(path); err != nil || info.ModTime().Before(start) {
			continue
		}
		out := strings.TrimSuffix(path, ".trace") + ".sched.txt"
		if err := writeSchedSummary(path, out); err == nil {
			written = append(written, out)
		}
	}
	return written
}

func writeSchedSummary(tracePath, out string) error {
	f, err := os.Open(tracePath)
	if err != nil {
		return err
	}
	defer f.Close()
	stats, err := schedDelays(f)
	if err != nil {
		return fmt.Errorf("%s: %w", tracePath, err)
	}
	w, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := formatSchedDelays(w, filepath.Base(tracePath), stats); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// formatSchedDelays prints stats as a table.
func formatSchedDelays(w io.Writer, title string, stats []delayStats) error {
	fmt.Fprintf(w, "run-queue waits in %s (time from runnable to running)\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "cause\twaits\twaits/s\tp50\tp99\tp99.9\tmax\tsum\t")
	for _, s := range stats {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", s.Cause, s.Count, s.PerSecondOfTraceTime,
			durationMS(s.P50), durationMS(s.P99), durationMS(s.P999), durationMS(s.Max), durationMS(s.Total))
	}
	return tw.Flush()
}

func durationMS(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }
