package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what one scenario measured: tables for people, headline
// figures and targets, correctness checks, and the plots it drew.
type Report struct {
	Scenario string             `json:"scenario"`
	Command  string             `json:"command"`
	Date     string             `json:"date"`
	Smoke    bool               `json:"smoke"`
	Machine  Machine            `json:"machine"`
	Settings map[string]any     `json:"settings"`
	Tables   []Table            `json:"tables"`
	Figures  map[string]float64 `json:"figures"`
	Targets  []Target           `json:"targets"`
	Checks   []Check            `json:"checks"`
	Plots    []string           `json:"plots,omitempty"`
	Notes    []string           `json:"notes,omitempty"`
}

// Table is a titled grid of formatted cells.
type Table struct {
	Title   string     `json:"title"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
}

// Target compares a measured figure with the goal set for it.
type Target struct {
	Name     string  `json:"name"`
	Goal     string  `json:"goal"`
	Measured float64 `json:"measured"`
	Unit     string  `json:"unit"`
	Met      bool    `json:"met"`
}

// Check is a correctness assertion: it must hold in every run, smoke or
// full size, whatever the timing.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

func newReport(scenario string, opts Options) *Report {
	return &Report{
		Scenario: scenario,
		Command:  opts.Command,
		Date:     time.Now().UTC().Format(time.RFC3339),
		Smoke:    opts.Smoke,
		Machine:  describeMachine(),
		Settings: map[string]any{},
		Figures:  map[string]float64{},
	}
}

// check records a correctness check.
func (r *Report) check(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// target records a goal: at least (atLeast) or at most the limit.
func (r *Report) target(name string, measured, limit float64, atLeast bool, unit string) {
	goal := fmt.Sprintf("<= %s %s", trimFloat(limit), unit)
	met := measured <= limit
	if atLeast {
		goal = fmt.Sprintf(">= %s %s", trimFloat(limit), unit)
		met = measured >= limit
	}
	r.Targets = append(r.Targets, Target{Name: name, Goal: goal, Measured: measured, Unit: unit, Met: met})
}

// note adds a sentence to the report.
func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// Failed lists the checks that did not hold.
func (r *Report) Failed() []Check {
	var bad []Check
	for _, c := range r.Checks {
		if !c.OK {
			bad = append(bad, c)
		}
	}
	return bad
}

// Print writes the report as text tables.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\n== %s (%s; %s, %d CPUs, %s)\n", r.Scenario, r.Date, r.Machine.CPU, r.Machine.CPUs, r.Machine.Memory)
	for _, t := range r.Tables {
		fmt.Fprintf(w, "\n%s\n", t.Title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, strings.Join(t.Columns, "\t")+"\t")
		for _, row := range t.Rows {
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		_ = tw.Flush()
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets:")
		for _, t := range r.Targets {
			verdict := "MISSED"
			switch {
			case r.Smoke:
				verdict = "n/a (smoke size)"
			case t.Met:
				verdict = "met"
			}
			fmt.Fprintf(w, "  %-44s %12s %-8s goal %-16s %s\n", t.Name, trimFloat(t.Measured), t.Unit, t.Goal, verdict)
		}
	}
	fmt.Fprintln(w, "\nchecks:")
	for _, c := range r.Checks {
		verdict := "ok"
		if !c.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(w, "  %-6s %s: %s\n", verdict, c.Name, c.Detail)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, p := range r.Plots {
		fmt.Fprintf(w, "plot: %s\n", p)
	}
}

// jsonNumber is a figure as JSON: null when it is not a number (a figure
// that could not be measured is NaN, which encoding/json refuses, and a
// report must still be written when a run went wrong).
type jsonNumber float64

func (v jsonNumber) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(v))
}

// MarshalJSON writes the report with unmeasured figures as null.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	figures := make(map[string]jsonNumber, len(r.Figures))
	for k, v := range r.Figures {
		figures[k] = jsonNumber(v)
	}
	return json.Marshal(struct {
		*plain
		Figures map[string]jsonNumber `json:"figures"`
	}{(*plain)(r), figures})
}

// MarshalJSON writes the target with an unmeasured figure as null.
func (t Target) MarshalJSON() ([]byte, error) {
	type plain Target
	return json.Marshal(struct {
		plain
		Measured jsonNumber `json:"measured"`
	}{plain(t), jsonNumber(t.Measured)})
}

// writeJSON stores the report as DIR/SCENARIO.json.
func (r *Report) writeJSON(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, r.Scenario+".json")
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, append(data, '\n'), 0o644)
}

// trimFloat formats v with at most three decimals and no trailing zeros.
func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// count formats a number with no decimals.
func count(v float64) string { return fmt.Sprintf("%.0f", v) }
