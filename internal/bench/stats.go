package bench

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// samples holds latency observations; it is not safe for concurrent use
// (each goroutine keeps its own and they are merged).
type samples []time.Duration

// percentile returns the q-th quantile (0..1) by the nearest-rank method
// of a sorted slice; 0 for an empty one.
func percentile(sorted samples, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// summary is the usual percentiles of a set of samples.
type summary struct {
	N    int           `json:"n"`
	P50  time.Duration `json:"p50_ns"`
	P95  time.Duration `json:"p95_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
}

func summarize(s samples) summary {
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	sum := summary{N: len(sorted)}
	if len(sorted) > 0 {
		sum.P50, sum.P95 = percentile(sorted, 0.50), percentile(sorted, 0.95)
		sum.P99, sum.P999 = percentile(sorted, 0.99), percentile(sorted, 0.999)
		sum.Max = sorted[len(sorted)-1]
	}
	return sum
}

// latencyMS is one of s's percentiles in milliseconds for a figure or a
// target: NaN when s has no samples, so that a run that measured nothing
// does not report 0 ms and meet every latency goal.
func latencyMS(s summary, d time.Duration) float64 {
	if s.N == 0 {
		return math.NaN()
	}
	return msf(d)
}

// procStat reads a process's CPU time (user+system) and resident memory
// from /proc.
type procStat struct {
	CPU time.Duration
	RSS int64 // bytes
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; 100 on Linux.
const clockTicks = 100

func readProcStat(pid int) (procStat, error) {
	var st procStat
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces.
	rest := string(raw[strings.LastIndexByte(string(raw), ')')+2:])
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return st, fmt.Errorf("bench: short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	st.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	st.RSS, err = readRSS(pid)
	return st, err
}

// readRSS returns VmRSS of a process in bytes.
func readRSS(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("bench: no VmRSS for process %d", pid)
}

// selfCPU returns this process's CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter measures the cores a child process and this process (the load
// generator) used over an interval.
type cpuMeter struct {
	pid        int
	start      time.Time
	child, gen time.Duration
}

func startCPU(pid int) cpuMeter {
	m := cpuMeter{pid: pid, start: time.Now(), gen: selfCPU()}
	if st, err := readProcStat(pid); err == nil {
		m.child = st.CPU
	}
	return m
}

// cores returns the average cores used by the child and by the generator
// since startCPU.
func (m cpuMeter) cores() (child, gen float64) {
	wall := time.Since(m.start).Seconds()
	if wall <= 0 {
		return 0, 0
	}
	if st, err := readProcStat(m.pid); err == nil {
		child = (st.CPU - m.child).Seconds() / wall
	}
	gen = (selfCPU() - m.gen).Seconds() / wall
	return child, gen
}

// raiseFileLimit lifts this process's open-file limit as far as the system
// allows (child processes inherit it).
func raiseFileLimit(want uint64) uint64 {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return 0
	}
	if lim.Cur >= want {
		return lim.Cur
	}
	if nr, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(nr)), 10, 64); err == nil && want > v {
			want = v
		}
	}
	next := syscall.Rlimit{Cur: want, Max: max(want, lim.Max)}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next) != nil {
		next = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next)
	}
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}
