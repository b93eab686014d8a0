package devtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

const (
	// leafLifetime stays under the 398 days that browsers accept for a
	// server certificate, backdating included.
	leafLifetime = 397 * 24 * time.Hour
	// renewWithin is how close to expiry a server certificate is replaced.
	renewWithin = 30 * 24 * time.Hour
)

// checkLeaf reads the current server certificate and says why it must be
// replaced ("" when it can stay). A missing or unparseable pair is a reason,
// not an error; errors are kept for files that exist but cannot be read.
func (e *ensurer) checkLeaf(ca *authority) (*x509.Certificate, string, error) {
	certPath, keyPath := e.path(leafCertName), e.path(leafKeyName)
	certPEM, haveCert, err := readOptional(certPath)
	if err != nil {
		return nil, "", err
	}
	keyPEM, haveKey, err := readOptional(keyPath)
	if err != nil {
		return nil, "", err
	}
	if !haveCert || !haveKey {
		return nil, "certificate or key missing", nil
	}
	cert, err := parseCertPEM(certPath, certPEM)
	if err != nil {
		return nil, err.Error(), nil
	}
	key, err := parseKeyPEM(keyPath, keyPEM)
	if err != nil {
		return nil, err.Error(), nil
	}
	if !keyMatches(cert.PublicKey, key) {
		return nil, keyPath + " does not match " + certPath, nil
	}
	if reason := e.leafValidity(cert, ca); reason != "" {
		return nil, reason, nil
	}
	if missing := e.sans.missingFrom(cert); len(missing) > 0 {
		return nil, "does not cover " + strings.Join(missing, ", "), nil
	}
	e.restrictKeyFile(keyPath)
	return cert, "", nil
}

// leafValidity checks that cert chains to the CA for server use now and is
// not about to expire. A certificate that already ends with the CA is left
// alone, since a new one could not last longer.
func (e *ensurer) leafValidity(cert *x509.Certificate, ca *authority) string {
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	_, err := cert.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: e.now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return "not valid under the current CA: " + err.Error()
	}
	if cert.NotAfter.Sub(e.now) < renewWithin && cert.NotAfter.Before(ca.cert.NotAfter) {
		return "expires " + cert.NotAfter.UTC().Format(time.RFC3339)
	}
	return ""
}

// issueLeaf creates a fresh key and server certificate and stores both, key
// first. A crash between the two writes leaves a pair that does not match,
// which the next call replaces.
func (e *ensurer) issueLeaf(ca *authority, reason string) (*x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devtls: generate server key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notAfter := e.now.Add(leafLifetime)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{organization}, CommonName: "Switchboard development server"},
		NotBefore:             e.now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              e.sans.dns,
		IPAddresses:           e.sans.ipList(),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("devtls: create server certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devtls: parse new server certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(e.path(leafKeyName), keyPEM, keyMode); err != nil {
		return nil, err
	}
	if err := writeAtomic(e.path(leafCertName), encodeCert(der), certMode); err != nil {
		return nil, err
	}
	e.log.Info("issued server certificate", "file", e.path(leafCertName), "reason", reason,
		"names", e.sans.String(), "not_after", cert.NotAfter)
	return cert, nil
}

// sanSet is the subject alternative names a server certificate must carry.
type sanSet struct {
	dns []string     // lower case, no trailing dot
	ips []netip.Addr // unmapped, without zone
}

// defaultHosts are covered by every server certificate.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// wantedSANs normalises the default hosts and extra into a set without
// duplicates, in first-seen order.
func wantedSANs(extra []string) (sanSet, error) {
	var s sanSet
	seenName := map[string]bool{}
	seenIP := map[netip.Addr]bool{}
	for _, raw := range append(append([]string(nil), defaultHosts...), extra...) {
		name, ip, err := parseHost(raw)
		switch {
		case err != nil:
			return sanSet{}, err
		case ip.IsValid() && !seenIP[ip]:
			seenIP[ip] = true
			s.ips = append(s.ips, ip)
		case name != "" && !seenName[name]:
			seenName[name] = true
			s.dns = append(s.dns, name)
		}
	}
	return s, nil
}

// parseHost turns one Hosts entry into a DNS name or an IP address; an
// empty entry yields neither.
func parseHost(raw string) (string, netip.Addr, error) {
	h := strings.TrimSpace(raw)
	if h == "" {
		return "", netip.Addr{}, nil
	}
	if len(h) > 2 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		return "", ip.Unmap().WithZone(""), nil
	}
	name := strings.TrimSuffix(strings.ToLower(h), ".")
	if !ValidDNSName(name) {
		return "", netip.Addr{}, fmt.Errorf("%w: %q", ErrInvalidHost, raw)
	}
	return name, netip.Addr{}, nil
}

// ValidDNSName reports whether name can stand in a certificate as a DNS
// name: letters (of either case), digits, hyphens and underscores, in
// labels of 1 to 63 characters, neither starting nor ending with a
// hyphen. Wildcards are not accepted. The configuration checks the
// advertised host with it, so that what check-config accepts is what the
// development certificate can cover.
func ValidDNSName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.ToLower(name), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// missingFrom lists the names of s that cert does not carry.
func (s sanSet) missingFrom(cert *x509.Certificate) []string {
	haveName := map[string]bool{}
	for _, n := range cert.DNSNames {
		haveName[strings.TrimSuffix(strings.ToLower(n), ".")] = true
	}
	haveIP := map[netip.Addr]bool{}
	for _, ip := range cert.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			haveIP[a.Unmap()] = true
		}
	}
	var missing []string
	for _, n := range s.dns {
		if !haveName[n] {
			missing = append(missing, n)
		}
	}
	for _, ip := range s.ips {
		if !haveIP[ip] {
			missing = append(missing, ip.String())
		}
	}
	return missing
}

func (s sanSet) ipList() []net.IP {
	ips := make([]net.IP, len(s.ips))
	for i, a := range s.ips {
		ips[i] = a.AsSlice()
	}
	return ips
}

// String lists the names and addresses, comma-separated, for logs.
func (s sanSet) String() string {
	parts := append([]string(nil), s.dns...)
	for _, ip := range s.ips {
		parts = append(parts, ip.String())
	}
	return strings.Join(parts, ",")
}
