package bench

import (
	"slices"
	"testing"
)

func TestParseRates(t *testing.T) {
	got, err := parseRates("10000, 20000,1.5e4")
	if err != nil || !slices.Equal(got, []float64{10000, 20000, 15000}) {
		t.Fatalf("parseRates = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "-5", "x", "10,,20", "+Inf", "NaN"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q) accepted", bad)
		}
	}
}

func TestFixedRatesSkipTheSearch(t *testing.T) {
	p := relayPlanFor(Options{Rates: []float64{30_000, 40_000}})
	if !p.fixed || p.maxSteps != 2 || !slices.Equal(p.rates, []float64{30_000, 40_000}) {
		t.Fatalf("relay plan = %+v", p)
	}
	q := turnPlanFor(Options{Rates: []float64{50_000}})
	if !q.fixed || q.maxSteps != 1 || q.rates[0] != 50_000 {
		t.Fatalf("turn plan = %+v", q)
	}
	if relayPlanFor(Options{}).fixed || turnPlanFor(Options{}).fixed {
		t.Fatal("default plans must search for saturation")
	}
}
