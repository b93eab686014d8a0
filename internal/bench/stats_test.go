package bench

import (
	"os"
	"testing"
	"time"
)

// TestProcStatReadsCPUAndMemory: the CPU time read from /proc/PID/stat
// (utime and stime, in clock ticks) agrees with what the kernel reports
// to the process itself through getrusage, and the resident size is that
// of a process that holds memory. A wrong field (cutime, the start time)
// or a wrong unit would be off by far more than the allowance of a few
// ticks.
func TestProcStatReadsCPUAndMemory(t *testing.T) {
	held := make([]byte, 32<<20)
	for i := range held {
		held[i] = byte(i)
	}
	for start := selfCPU(); selfCPU()-start < 300*time.Millisecond; {
		for i := range held {
			held[i]++
		}
	}
	st, err := readProcStat(os.Getpid())
	self := selfCPU()
	if err != nil {
		t.Fatal(err)
	}
	if diff := self - st.CPU; diff < -50*time.Millisecond || diff > 50*time.Millisecond {
		t.Errorf("CPU from /proc %v, from getrusage %v", st.CPU, self)
	}
	if st.RSS < int64(len(held)) {
		t.Errorf("resident %d bytes while holding %d", st.RSS, len(held))
	}
	_ = held[len(held)-1]
}

// TestPercentileNearestRank: the q-th percentile of n samples 1..n is the
// smallest sample at or above a fraction q of them, ceil(q*n), at the
// sizes where an off-by-one or a floating-point rank would show.
func TestPercentileNearestRank(t *testing.T) {
	for _, c := range []struct {
		n    int
		q    float64
		want time.Duration
	}{
		{1, 0.5, 1}, {1, 0.999, 1}, {2, 0.5, 1}, {3, 0.5, 2}, {20, 0.95, 19}, {21, 0.95, 20},
		{100, 0.99, 99}, {101, 0.99, 100}, {1000, 0.999, 999}, {1000, 0.99, 990}, {1001, 0.999, 1000},
	} {
		sorted := make(samples, c.n)
		for i := range sorted {
			sorted[i] = time.Duration(i + 1)
		}
		if got := percentile(sorted, c.q); got != c.want {
			t.Errorf("p%v of 1..%d = %d, want %d", c.q*100, c.n, got, c.want)
		}
	}
}
