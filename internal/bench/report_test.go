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
