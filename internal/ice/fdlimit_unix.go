//go:build unix

package ice

import "golang.org/x/sys/unix"

// openFileLimit returns the process's soft RLIMIT_NOFILE. Go raises it to
// the hard limit at start-up, so this is the limit the server lives with.
func openFileLimit() (uint64, bool) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, false
	}
	return uint64(rl.Cur), true //nolint:gosec,unconvert // int64 on some systems, never negative
}
