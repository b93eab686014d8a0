package config

import (
	"slices"
	"strings"
	"testing"
)

// TestUnknownVariables: each SWITCHBOARD_* variable that is no setting
// gets one warning naming it, with the variable meant when one is close
// (a plural, a swapped letter, a file key's section in front); settings,
// SWITCHBOARD_CONFIG and other prefixes are left alone, and a warning
// does not stop Load.
func TestUnknownVariables(t *testing.T) {
	environ := []string{
		"SWITCHBOARD_TURN_ALLOW_PEERS=10.0.0.0/8",
		"SWITCHBOARD_REGOIN=eu-west-1",
		"SWITCHBOARD_SIGNALING_MAX_VIEWERS_PER_CHANNEL=3",
		"SWITCHBOARD_SERVICE_HOST=10.0.0.1",
		"SWITCHBOARD_REGION=eu-west-1",
		"SWITCHBOARD_CONFIG=",
		"SBDEV_BENCH_PPROF=127.0.0.1:0",
		"PATH=/bin",
	}
	var warnings []string
	_, err := Load("test", Source{
		Env:     env(map[string]string{"SWITCHBOARD_REGION": "eu-west-1"}),
		Environ: func() []string { return environ },
		Warn:    func(w string) { warnings = append(warnings, w) },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"SWITCHBOARD_TURN_ALLOW_PEERS":                  "did you mean SWITCHBOARD_TURN_ALLOW_PEER?",
		"SWITCHBOARD_REGOIN":                            "did you mean SWITCHBOARD_REGION?",
		"SWITCHBOARD_SIGNALING_MAX_VIEWERS_PER_CHANNEL": "did you mean SWITCHBOARD_MAX_VIEWERS_PER_CHANNEL?",
		"SWITCHBOARD_SERVICE_HOST":                      "SWITCHBOARD_NAME",
	}
	if len(warnings) != len(want) {
		t.Fatalf("got %d warnings, want %d:\n%s", len(warnings), len(want), strings.Join(warnings, "\n"))
	}
	for name, hint := range want {
		i := slices.IndexFunc(warnings, func(w string) bool { return strings.Contains(w, name+" is not a setting") })
		if i < 0 || !strings.Contains(warnings[i], hint) {
			t.Errorf("no warning about %s saying %q in:\n%s", name, hint, strings.Join(warnings, "\n"))
		}
	}
}
