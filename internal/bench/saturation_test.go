package bench

import (
	"strings"
	"testing"
)

// TestUnsaturatedSearchIsNoted: a search for saturation whose steps ran
// out before one overloaded the target says that its figure is a lower
// bound; a search that found saturation, a smoke run and a run at chosen
// rates say nothing.
func TestUnsaturatedSearchIsNoted(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      Options
		saturated bool
		noted     bool
	}{
		{"search ran out of steps", Options{}, false, true},
		{"search found saturation", Options{}, true, false},
		{"smoke", Options{Smoke: true}, false, false},
		{"chosen rates", Options{Rates: []float64{60_000}}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := newReport("relay", tc.opts)
			noteUnsaturated(rep, tc.opts, "relay through switchboard", tc.saturated, 12)
			noted := len(rep.Notes) == 1 && strings.Contains(rep.Notes[0], "lower bound") &&
				strings.Contains(rep.Notes[0], "relay through switchboard")
			if noted != tc.noted || (!tc.noted && len(rep.Notes) > 0) {
				t.Fatalf("notes %q, want a lower-bound note: %v", rep.Notes, tc.noted)
			}
		})
	}
}
