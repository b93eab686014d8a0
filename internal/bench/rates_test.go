package bench

import (
	"crypto/tls"
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

func TestGeneratorTLS(t *testing.T) {
	pinned := &tls.Config{ServerName: "localhost"}
	if got := generatorTLS(pinned, false); got != pinned {
		t.Fatal("default generator TLS must be the pinned configuration as it is")
	}
	classic := generatorTLS(pinned, true)
	if !slices.Equal(classic.CurvePreferences, []tls.CurveID{tls.X25519}) || classic.ServerName != "localhost" {
		t.Fatalf("classic: %+v", classic.CurvePreferences)
	}
	if pinned.CurvePreferences != nil {
		t.Fatal("the pinned configuration was changed")
	}
}
