package main

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// TestHelpExitsZero: asking for help is not a usage error, for every
// command that has flags.
func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"serve", "check-config", "master", "viewer", "bench"} {
		var out, errb bytes.Buffer
		if code := run([]string{cmd, "--help"}, &out, &errb); code != 0 {
			t.Errorf("%s --help: exit %d, want 0\n%s", cmd, code, errb.String())
		}
	}
}

// TestConfigProblemsCountsProblemsNotLines: a problem whose text spans
// lines (a YAML error and where it is) counts once, and joined problems
// are listed one by one, however deeply they were joined.
func TestConfigProblemsCountsProblemsNotLines(t *testing.T) {
	yamlErr := errors.New("bad.yaml: field adress not found\n  line 2")
	err := errors.Join(yamlErr, errors.Join(errors.New("server.region: bad"), errors.New("log.level: bad")))
	got := configProblems(err)
	want := []string{yamlErr.Error(), "server.region: bad", "log.level: bad"}
	if !slices.Equal(got, want) {
		t.Fatalf("configProblems = %q, want %q", got, want)
	}
}

// TestBenchUsageErrorsExitTwo: an unknown scenario is a usage error, like
// an unknown flag, and says which scenarios there are; nothing is run.
func TestBenchUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{{"bench", "nosuch"}, {"bench", "relay", "--nosuch"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	run([]string{"bench", "nosuch"}, &out, &errb)
	if !bytes.Contains(errb.Bytes(), []byte(`"nosuch"`)) || !bytes.Contains(errb.Bytes(), []byte("connections")) {
		t.Errorf("unknown scenario: stderr %q should name it and the scenarios", errb.String())
	}
}
