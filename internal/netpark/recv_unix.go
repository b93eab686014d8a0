//go:build unix

package netpark

import "syscall"

// supported tells whether Wrap can work on this system.
const supported = true

// recvOnce makes one read(2) on the socket, which the Go runtime keeps in
// O_NONBLOCK mode, so it never waits. It returns ErrWouldBlock for an empty
// socket and the raw errno for other failures; n is never negative.
func recvOnce(fd uintptr, p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), p)
		if err == syscall.EINTR {
			continue
		}
		// EWOULDBLOCK equals EAGAIN on most systems, but not on all.
		if err == syscall.EAGAIN || err == syscall.EWOULDBLOCK {
			return 0, ErrWouldBlock
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}
