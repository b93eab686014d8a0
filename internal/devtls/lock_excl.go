//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package devtls

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// staleLock is the age after which a lock file is taken to be left over by
// a crashed process. Ensure holds the lock for well under a second.
const staleLock = 2 * time.Minute

// lockPath takes the lock by creating the file at path exclusively
// (O_EXCL), for systems without flock. The returned function removes it. A
// lock file older than staleLock is removed and taken over.
func lockPath(path string, wait time.Duration) (unlock func(), err error) {
	deadline := time.Now().Add(wait)
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
			_ = f.Close()
			return func() { _ = os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fileErr("lock", path, err)
		}
		if fi, serr := os.Stat(path); serr == nil && time.Since(fi.ModTime()) > staleLock {
			_ = os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %s still held by another process after %s", ErrLockTimeout, path, wait)
		}
		time.Sleep(pause)
	}
}
