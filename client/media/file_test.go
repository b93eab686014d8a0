package media

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestCheckOutputName: the names CreateFile takes pass, in any case; a
// name it would refuse, or one in a directory that does not exist, fails
// before anything is created.
func TestCheckOutputName(t *testing.T) {
	dir := t.TempDir()
	for _, ok := range []string{"a.ivf", "a.IVF", "a.h264", "a.264"} {
		if err := CheckOutputName(filepath.Join(dir, ok)); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	if err := CheckOutputName(filepath.Join(dir, "a.mp4")); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("a.mp4: %v, want ErrUnsupportedFormat", err)
	}
	if err := CheckOutputName(filepath.Join(dir, "missing", "a.ivf")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v, want fs.ErrNotExist", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("CheckOutputName created %d entries", len(entries))
	}
}
