package devtls

import (
	"crypto/x509"
	"fmt"
	"strings"
)

// CertPool returns a pool holding the CA of the bundle, for
// tls.Config.RootCAs in tests and in the Go SDK.
func (b *Bundle) CertPool() (*x509.CertPool, error) {
	data, err := readFile(b.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%w: %s holds no certificate", ErrBadPEM, b.CAFile)
	}
	return pool, nil
}

// TrustInstructions tells a user, in a few lines of plain text, how to make
// common clients trust the bundle's CA. The server prints it when Ensure
// reports CreatedCA.
func (b *Bundle) TrustInstructions() string {
	var s strings.Builder
	fmt.Fprintf(&s, "Switchboard created a development certificate authority:\n")
	fmt.Fprintf(&s, "  %s\n  SHA-256 %s\n", b.CAFile, b.CAFingerprint)
	fmt.Fprintf(&s, "Clients must trust it before they can connect:\n")
	fmt.Fprintf(&s, "  AWS CLI and SDKs:  export AWS_CA_BUNDLE=%s\n", b.CAFile)
	fmt.Fprintf(&s, "  curl:              curl --cacert %s ...\n", b.CAFile)
	fmt.Fprintf(&s, "  Node.js:           export NODE_EXTRA_CA_CERTS=%s\n", b.CAFile)
	fmt.Fprintf(&s, "  KVS WebRTC C SDK:  use %s as the CA certificate path\n", b.CAFile)
	fmt.Fprintf(&s, "  browsers:          import it as a trusted certificate authority\n")
	fmt.Fprintf(&s, "Anyone holding its private key can impersonate any site to those clients: use it for development only.\n")
	return s.String()
}
