// Package fsutil owns the few file-system steps that make a change on disk
// durable: replacing a file atomically (WriteFileAtomic), creating
// directories so that they survive a crash (MkdirAll), and flushing a
// directory's entries (SyncDir). It decides neither names nor modes nor
// what a caller does when durability cannot be had: a change that was
// made but could not be synced is reported as ErrNotDurable, and each
// caller chooses whether that is fatal.
package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// ErrNotDurable marks an error returned after the change itself succeeded
// (the file is renamed into place, the directory exists) when syncing a
// directory failed: the change is visible now, but a crash may still undo
// it.
var ErrNotDurable = errors.New("change made but not synced to disk")

// tempInfix separates the target's name from the random suffix in the name
// of a temporary file; see TempPrefix.
const tempInfix = ".tmp-"

// TempPrefix is how the names of the temporary files WriteFileAtomic makes
// for a target begin: a dot, the target's base name and ".tmp-". A file
// with that prefix left behind by a crash can be removed by whoever owns
// the directory.
func TempPrefix(target string) string {
	return "." + filepath.Base(target) + tempInfix
}

// syncDir is SyncDir, replaceable by this package's tests.
var syncDir = SyncDir

// SyncDir flushes the entries of dir to disk, which makes a rename into
// it, or a file or directory newly created in it, survive a crash. On
// Windows it does nothing: a directory cannot be opened for syncing there,
// and NTFS journals its metadata.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// WriteFileAtomic replaces path with data, giving it mode perm: the bytes
// go to a temporary file in the same directory (named with TempPrefix),
// which is synced, closed and renamed over path, and then the directory is
// synced. Readers, and a restart after a crash, see the old file or the
// new one, never a mix. The temporary file is removed on failure.
//
// An error wrapping ErrNotDurable means the new file is in place and only
// the final directory sync failed. Any other error leaves path as it was.
// Errors keep the *fs.PathError or *os.LinkError of the failed step.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempPrefix(path)+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("%w: %w", ErrNotDurable, err)
	}
	return nil
}

// MkdirAll creates dir and any missing parents with mode perm, like
// os.MkdirAll, and then syncs the parent of every directory it created,
// from the nearest ancestor that already existed down, so that the new
// directories are still there after a crash. Nothing is synced when dir
// already existed.
//
// An error wrapping ErrNotDurable means every directory exists and only a
// sync failed.
func MkdirAll(dir string, perm fs.FileMode) error {
	dir = filepath.Clean(dir)
	var missing []string // deepest first
	for d := dir; ; {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			break // it exists, or os.MkdirAll will report what is wrong
		}
		missing = append(missing, d)
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := syncDir(filepath.Dir(missing[i])); err != nil {
			return fmt.Errorf("%w: new directory %s: %w", ErrNotDurable, missing[i], err)
		}
	}
	return nil
}
