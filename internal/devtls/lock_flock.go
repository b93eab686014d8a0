//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package devtls

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockPath takes an exclusive advisory lock (flock) on the file at path,
// creating it if needed, and returns the function that releases it. The
// kernel drops the lock when the holder exits, so a crashed process never
// leaves the directory locked. Separate calls in one process exclude each
// other too, because each opens its own file description.
func lockPath(path string, wait time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fileErr("lock", path, err)
	}
	fd := int(f.Fd())
	deadline := time.Now().Add(wait)
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(fd, syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fileErr("lock", path, err)
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			return nil, fmt.Errorf("%w: %s still held by another process after %s", ErrLockTimeout, path, wait)
		}
		time.Sleep(pause)
	}
}
