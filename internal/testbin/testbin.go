// Package testbin builds the switchboard executable for the test packages
// that run it as a subprocess (test/e2e, internal/bench): once per test
// binary, into a temporary directory removed when the tests end.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Main builds cmdDir (the path of cmd/switchboard relative to the calling
// package), with the race detector when race is set, stores the
// executable's path in *binary, runs the tests and exits with their
// status. A failed build exits with status 1 before any test runs.
func Main(m *testing.M, cmdDir string, race bool, binary *string) {
	dir, err := os.MkdirTemp("", "switchboard-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*binary = filepath.Join(dir, "switchboard")
	args := []string{"build", "-o", *binary}
	if race {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, cmdDir)...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building switchboard:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
