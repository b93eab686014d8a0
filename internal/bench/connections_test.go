package bench

import (
	"context"
	"math"
	"testing"
	"time"
)

// TestReleaseCheckNeedsTheServer: "every connection released after close"
// holds only when the server said so. Its gauge reads 0 from a live server
// with no connections; from a server that no longer answers it is not
// read at all, and the check must fail rather than take the silence for
// a zero.
func TestReleaseCheckNeedsTheServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := startTestServer(ctx, t, limitsYAML(""))
	const gaugeName = "switchboard_signaling_connections"
	isZero := func(v float64) bool { return v == 0 }
	releaseCheck := func(left float64) Check {
		rep := newReport("connections", Options{Smoke: true})
		held := float64(10)
		reportConnections(rep, 10, &connMeasure{opened: 10, held: held, parked: held, left: left, elapsed: time.Second}, false)
		for _, c := range rep.Checks {
			if c.Name == "every connection released after close" {
				return c
			}
		}
		t.Fatalf("no release check in %+v", rep.Checks)
		return Check{}
	}

	if left := srv.waitMetric(ctx, gaugeName, 10*time.Second, isZero); left != 0 || !releaseCheck(left).OK {
		t.Fatalf("live server without connections: gauge %v, check %+v", left, releaseCheck(left))
	}
	srv.stop()
	left := srv.waitMetric(ctx, gaugeName, time.Second, isZero)
	if c := releaseCheck(left); c.OK {
		t.Errorf("the server is gone, yet the release check passed: gauge read as %v (%s)", left, c.Detail)
	}
}

// TestMemoryPerConnection: the server's memory per connection is what its
// resident set, heap and stacks grew by while the connections were opened,
// divided by the connections opened: the heap the server had before any
// connection (its store, TLS, metrics) is nobody's. With no connection
// opened there is no figure, and the memory goal is not met.
func TestMemoryPerConnection(t *testing.T) {
	const kib = 1024
	m := &connMeasure{opened: 100, held: 100, parked: 100, elapsed: time.Second,
		before:        procStat{RSS: 20 << 20},
		after:         procStat{RSS: 20<<20 + 100*12*kib},
		metricsBefore: map[string]float64{"go_memstats_heap_inuse_bytes": 8 << 20, "go_memstats_stack_inuse_bytes": 512 * kib},
		metrics:       map[string]float64{"go_memstats_heap_inuse_bytes": 8<<20 + 100*7*kib, "go_memstats_stack_inuse_bytes": 512*kib + 100*2*kib}}
	rep := newReport("connections", Options{})
	reportConnections(rep, 100, m, false)
	for name, want := range map[string]float64{"rss_per_connection_kib": 12, "heap_inuse_per_connection_kib": 7, "stack_inuse_per_connection_kib": 2} {
		if got := rep.Figures[name]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	none := &connMeasure{held: 0, elapsed: time.Second, before: procStat{RSS: 20 << 20}, after: procStat{RSS: 20<<20 + 4*kib},
		metricsBefore: m.metricsBefore, metrics: m.metricsBefore}
	rep = newReport("connections", Options{})
	reportConnections(rep, 100, none, false)
	if v := rep.Figures["rss_per_connection_kib"]; !math.IsNaN(v) {
		t.Errorf("no connection opened, yet %v KiB per connection", v)
	}
	for _, tg := range rep.Targets {
		if tg.Name == "server memory per idle connection" && tg.Met {
			t.Errorf("memory goal met with no connection opened: %v %s", tg.Measured, tg.Unit)
		}
	}
}
