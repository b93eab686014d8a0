package app

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/switchboard-rtc/switchboard/internal/config"
)

// TestGeneratedCredentialsAreKept: the keys generated at the first start
// are written in one piece (mode 0600, no temporary file left) and read
// back, unchanged, at the next. That the rename is synced into the
// directory is fsutil.WriteFileAtomic's promise, tested in its package.
func TestGeneratedCredentialsAreKept(t *testing.T) {
	cfg := config.Default()
	cfg.Server.DataDir = t.TempDir()
	keys, generated, err := rootKeys(cfg)
	if err != nil || !generated {
		t.Fatalf("rootKeys = %v, generated %v", err, generated)
	}
	entries, err := os.ReadDir(cfg.Server.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{credentialsFile}) {
		t.Errorf("data directory holds %q, want only %s", names, credentialsFile)
	}
	if fi, err := os.Stat(filepath.Join(cfg.Server.DataDir, credentialsFile)); err != nil {
		t.Fatal(err)
	} else if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", credentialsFile, fi.Mode().Perm())
	}
	again, generated, err := rootKeys(cfg)
	if err != nil || generated || again != keys {
		t.Errorf("second rootKeys = %v, generated %v, same keys %v", err, generated, again == keys)
	}
}

// TestMakeDataDir: a data directory is created with its missing parents,
// mode 0700, and an existing one is accepted as it is. Syncing the new
// directories is fsutil.MkdirAll's promise, tested in its package.
func TestMakeDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "data")
	for range 2 {
		if err := makeDataDir(dir); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() {
			t.Fatalf("data directory: %v, %v", fi, err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
			t.Errorf("data directory has mode %v, want 0700", fi.Mode().Perm())
		}
	}
}
