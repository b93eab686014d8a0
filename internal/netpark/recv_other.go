//go:build !unix

package netpark

// supported tells whether Wrap can work on this system: the raw
// descriptor of a socket cannot be read with a plain nonblocking read here.
const supported = false

func recvOnce(uintptr, []byte) (int, error) { return 0, ErrUnsupported }
