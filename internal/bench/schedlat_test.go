package bench

import (
	"bytes"
	"runtime"
	"runtime/trace"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSchedDelaysByCause records an execution trace of known scheduling
// events and checks that each is counted under its cause, and that a wait
// forced to last at least 20 ms is measured as such.
func TestSchedDelaysByCause(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one P: a busy goroutine makes others wait
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skipf("execution tracing unavailable: %v", err)
	}

	const yields, wakeups, starts = 50, 30, 20
	for range yields {
		runtime.Gosched()
	}
	ping, pong := make(chan struct{}), make(chan struct{})
	go func() {
		for range ping {
			pong <- struct{}{}
		}
	}()
	for range wakeups {
		ping <- struct{}{}
		<-pong
	}
	close(ping)
	var wg sync.WaitGroup
	for range starts {
		wg.Go(func() {})
	}
	wg.Wait()

	// A goroutine made runnable while this one keeps the only P busy must
	// wait: until the spin ends, or until the runtime preempts the spin
	// after about 10 ms.
	const forced = 20 * time.Millisecond
	ran := make(chan struct{})
	go func() { close(ran) }()
	for deadline := time.Now().Add(forced); time.Now().Before(deadline); {
		spin(forced / 4)
	}
	<-ran
	trace.Stop()

	stats, err := schedDelays(&buf)
	if err != nil {
		t.Fatal(err)
	}
	byCause := map[string]delayStats{}
	for _, s := range stats {
		byCause[s.Cause] = s
	}
	for cause, least := range map[string]int{delayYielded: yields, delayWoken: wakeups, delayStarted: starts} {
		if got := byCause[cause].Count; got < least {
			t.Errorf("%s: %d waits, want at least %d (all: %+v)", cause, got, least, stats)
		}
	}
	if got := byCause[delayStarted].Max; got < 5*time.Millisecond {
		t.Errorf("longest wait of a started goroutine = %v, want 10 to %v", got, forced)
	}
	var out strings.Builder
	if err := formatSchedDelays(&out, "test.trace", stats); err != nil || !strings.Contains(out.String(), delayYielded) {
		t.Errorf("formatted summary (%v):\n%s", err, out.String())
	}
}

// spin keeps the goroutine on its P for about d without yielding.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}
