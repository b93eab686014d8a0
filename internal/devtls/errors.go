package devtls

import "errors"

// Sentinel errors. Returned errors wrap them (test with errors.Is) and name
// the file concerned in their message.
var (
	// ErrNoDir means Options.Dir was empty.
	ErrNoDir = errors.New("devtls: no directory given")
	// ErrInvalidHost means an entry of Options.Hosts is neither a DNS name
	// nor an IP address.
	ErrInvalidHost = errors.New("devtls: host is neither a DNS name nor an IP address")
	// ErrBadPEM means a file holds no PEM block of the expected kind.
	ErrBadPEM = errors.New("devtls: no usable PEM block")
	// ErrCAKeyMissing means ca.pem exists but ca-key.pem does not. The CA is
	// not replaced, because clients may already trust it.
	ErrCAKeyMissing = errors.New("devtls: CA certificate present but its private key is missing")
	// ErrCAKeyMismatch means ca-key.pem does not belong to ca.pem. Neither
	// file is ever replaced automatically.
	ErrCAKeyMismatch = errors.New("devtls: CA private key does not match the CA certificate")
	// ErrNotCA means ca.pem holds a certificate that may not sign others.
	ErrNotCA = errors.New("devtls: certificate is not a certificate authority")
	// ErrCAExpired means the CA certificate is not valid at the current
	// time (expired, or not yet valid).
	ErrCAExpired = errors.New("devtls: CA certificate is outside its validity period")
	// ErrLockTimeout means another process held the directory lock for too
	// long.
	ErrLockTimeout = errors.New("devtls: timed out waiting for the directory lock")
)
