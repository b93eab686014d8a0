package devtls

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// TestNewFilesAndDirectoryAreSynced: every file is renamed into a synced
// directory, and a new directory has its parent synced as well, so that a
// crash right after the first start cannot lose the CA clients were told
// to trust.
func TestNewFilesAndDirectoryAreSynced(t *testing.T) {
	var mu sync.Mutex
	var synced []string
	real := syncDir
	syncDir = func(dir string) {
		mu.Lock()
		synced = append(synced, dir)
		mu.Unlock()
		real(dir)
	}
	t.Cleanup(func() { syncDir = real })
	dir := newDir(t)
	mustEnsure(t, Options{Dir: dir, Hosts: []string{"localhost"}})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(synced, filepath.Dir(dir)) {
		t.Errorf("parent of the new directory not synced (synced: %q)", synced)
	}
	if n := count(synced, dir); n < len(allFiles) {
		t.Errorf("directory synced %d times for %d new files", n, len(allFiles))
	}
}

func count(list []string, v string) int {
	n := 0
	for _, s := range list {
		if s == v {
			n++
		}
	}
	return n
}
