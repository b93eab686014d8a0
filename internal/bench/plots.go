package bench

import (
	"fmt"
	"image/color"
	"path/filepath"
)

// plotRelay draws end-to-end latency against offered load for the server
// (blue) and the bare forwarder (red): p50 solid, p99 dashed.
func plotRelay(dir string, subject, baseline *relayRun) (string, error) {
	c := chart{title: "Relay latency against offered load", xLabel: "offered messages per second",
		yLabel: "latency ms (log)", logY: true}
	for i, run := range []*relayRun{subject, baseline} {
		col := []color.RGBA{blue, red}[i]
		p50 := series{name: run.Target + " p50", color: col}
		p99 := series{name: run.Target + " p99", color: col, dashed: true}
		for _, s := range run.Steps {
			p50.xs, p50.ys = append(p50.xs, s.Offered), append(p50.ys, msf(s.Latency.P50))
			p99.xs, p99.ys = append(p99.xs, s.Offered), append(p99.ys, msf(s.Latency.P99))
		}
		c.series = append(c.series, p50, p99)
	}
	path := filepath.Join(dir, "relay-latency.png")
	return path, c.writePNG(path)
}

// plotTURN draws delivered against offered packet rates for each server
// and packet size (200-byte solid, 1,200-byte dashed); the file name says
// the direction unless it is the default one.
func plotTURN(dir, direction string, runs []*turnRun) (string, error) {
	c := chart{title: "TURN relay, " + direction + ": delivered against offered packets",
		xLabel: "offered packets per second", yLabel: "delivered packets per second"}
	for _, run := range runs {
		col := blue
		if run.Target != "switchboard" {
			col = red
		}
		s := series{name: fmt.Sprintf("%s %dB", run.Target, run.Size), color: col, dashed: run.Size > 200}
		for _, st := range run.Steps {
			s.xs, s.ys = append(s.xs, st.Offered), append(s.ys, st.Delivered)
		}
		c.series = append(c.series, s)
	}
	name := "turn-throughput.png"
	if direction != clientToPeer {
		name = "turn-throughput-" + direction + ".png"
	}
	path := filepath.Join(dir, name)
	return path, c.writePNG(path)
}
