package bench

import (
	"context"
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
