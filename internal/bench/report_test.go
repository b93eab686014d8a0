package bench

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// TestReportWithUnmeasuredFigure: a figure that could not be measured
// (NaN: the server stopped answering, no sample was taken) is written as
// null, and the rest of the report is still written; encoding/json alone
// refuses NaN and the report would be lost with the run that needs it.
func TestReportWithUnmeasuredFigure(t *testing.T) {
	rep := newReport("connections", Options{})
	rep.Figures["connections_held"] = math.NaN()
	rep.Figures["connect_rate_per_s"] = 1500
	rep.target("server memory per idle connection", math.NaN(), 16, false, "KiB")
	rep.check("every connection released after close", false, "server gauge NaN")
	path, err := rep.writeJSON(t.TempDir())
	if err != nil {
		t.Fatalf("report not written: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Figures map[string]*float64 `json:"figures"`
		Targets []struct {
			Measured *float64 `json:"measured"`
			Met      bool     `json:"met"`
		} `json:"targets"`
		Checks []Check `json:"checks"`
	}
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if held, ok := back.Figures["connections_held"]; !ok || held != nil {
		t.Errorf("unmeasured figure written as %v, want null", held)
	}
	if rate := back.Figures["connect_rate_per_s"]; rate == nil || *rate != 1500 {
		t.Errorf("measured figure written as %v, want 1500", rate)
	}
	if len(back.Targets) != 1 || back.Targets[0].Measured != nil || back.Targets[0].Met {
		t.Errorf("unmeasured target written as %+v, want null and not met", back.Targets)
	}
	if len(back.Checks) != 1 || back.Checks[0].OK {
		t.Errorf("checks written as %+v", back.Checks)
	}
}

// TestNoSampleMeetsNoLatencyGoal: when every session failed there is no
// time to first frame, and the "at most" latency goals must not read as
// met with a p50 of 0 ms.
func TestNoSampleMeetsNoLatencyGoal(t *testing.T) {
	rep := newReport("ttff", Options{})
	reportTTFF(rep, []ttffSession{{Err: "no frame within 30s"}, {Err: "no frame within 30s"}}, 2)
	if len(rep.Targets) == 0 {
		t.Fatal("no targets reported")
	}
	for _, tg := range rep.Targets {
		if tg.Met {
			t.Errorf("target %q met with no sample: measured %v", tg.Name, tg.Measured)
		}
	}
	if v := rep.Figures["ttff_p50_ms"]; !math.IsNaN(v) {
		t.Errorf("ttff_p50_ms = %v with no sample, want NaN (unmeasured)", v)
	}
}
