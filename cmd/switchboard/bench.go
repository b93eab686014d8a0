package main

import (
	"io"

	"github.com/switchboard-rtc/switchboard/internal/bench"
)

// The server started by `switchboard bench --profile` serves Go's
// profiling endpoints on loopback; every other process ignores this.
func init() { bench.StartProfilerFromEnv() }

// runBench is `switchboard bench SCENARIO`: see package bench.
func runBench(args []string, stdout, stderr io.Writer) int {
	return bench.Main(args, stdout, stderr)
}
