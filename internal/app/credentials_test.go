package app

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/switchboard-rtc/switchboard/internal/config"
)

// watchSyncs replaces syncDir for one test with a recorder that also runs
// probe at each sync, and returns the directories synced so far.
func watchSyncs(t *testing.T, probe func(dir string)) func() []string {
	t.Helper()
	var synced []string
	real := syncDir
	syncDir = func(dir string) error {
		synced = append(synced, dir)
		if probe != nil {
			probe(dir)
		}
		return real(dir)
	}
	t.Cleanup(func() { syncDir = real })
	return func() []string { return synced }
}

// TestGeneratedCredentialsAreSyncedIntoPlace: after credentials.json is
// renamed into place its directory is synced, so that a crash cannot undo
// the rename and make the next start generate different keys.
func TestGeneratedCredentialsAreSyncedIntoPlace(t *testing.T) {
	cfg := config.Default()
	cfg.Server.DataDir = t.TempDir()
	path := filepath.Join(cfg.Server.DataDir, credentialsFile)
	inPlace := false
	synced := watchSyncs(t, func(dir string) {
		if _, err := os.Stat(path); err == nil && dir == cfg.Server.DataDir {
			inPlace = true
		}
	})
	keys, generated, err := rootKeys(cfg)
	if err != nil || !generated {
		t.Fatalf("rootKeys = %v, generated %v", err, generated)
	}
	if !inPlace {
		t.Errorf("the data directory was not synced after the rename (synced: %q)", synced())
	}
	again, generated, err := rootKeys(cfg)
	if err != nil || generated || again != keys {
		t.Errorf("second rootKeys = %v, generated %v, same keys %v", err, generated, again == keys)
	}
}

// TestNewDataDirIsSynced: a data directory created at start-up has its
// parent synced; an existing one is left alone.
func TestNewDataDirIsSynced(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	synced := watchSyncs(t, nil)
	if err := makeDataDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v, %v", fi, err)
	}
	if !slices.Contains(synced(), parent) {
		t.Errorf("parent of the new data directory not synced (synced: %q)", synced())
	}
	before := len(synced())
	if err := makeDataDir(dir); err != nil {
		t.Fatal(err)
	}
	if len(synced()) != before {
		t.Errorf("an existing data directory was synced again: %q", synced()[before:])
	}
}
