package devtls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"runtime"
	"time"
)

// caLifetimeYears is how long a new development CA stays valid.
const caLifetimeYears = 10

// organization goes into the subject of everything Ensure issues.
const organization = "Switchboard development"

// authority is a CA certificate with its signing key.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// loadOrCreateCA returns the CA of the directory and whether this call
// wrote its certificate. Only a directory with neither CA file gets a brand
// new CA; a key without its certificate (a crash between the two writes,
// or a deleted ca.pem) gets a new certificate for the same key; anything
// else that is wrong is an error.
func (e *ensurer) loadOrCreateCA() (*authority, bool, error) {
	certPath, keyPath := e.path(caCertName), e.path(caKeyName)
	certPEM, haveCert, err := readOptional(certPath)
	if err != nil {
		return nil, false, err
	}
	keyPEM, haveKey, err := readOptional(keyPath)
	if err != nil {
		return nil, false, err
	}
	switch {
	case haveCert && haveKey:
		ca, err := e.loadCA(certPath, certPEM, keyPath, keyPEM)
		return ca, false, err
	case haveCert:
		return nil, false, fmt.Errorf("%w: %s exists but %s does not; restore the key, or remove %s to create a new CA",
			ErrCAKeyMissing, certPath, keyPath, certPath)
	case haveKey:
		key, err := parseKeyPEM(keyPath, keyPEM)
		if err != nil {
			return nil, false, err
		}
		e.log.Warn("CA certificate missing; creating a new one for the existing CA key", "file", certPath)
		ca, err := e.writeCA(key, false)
		return ca, err == nil, err
	default:
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, false, fmt.Errorf("devtls: generate CA key: %w", err)
		}
		ca, err := e.writeCA(key, true)
		return ca, err == nil, err
	}
}

// loadCA parses and checks an existing CA pair.
func (e *ensurer) loadCA(certPath string, certPEM []byte, keyPath string, keyPEM []byte) (*authority, error) {
	cert, err := parseCertPEM(certPath, certPEM)
	if err != nil {
		return nil, err
	}
	key, err := parseKeyPEM(keyPath, keyPEM)
	if err != nil {
		return nil, err
	}
	if !keyMatches(cert.PublicKey, key) {
		return nil, fmt.Errorf("%w: %s does not belong to %s; restore the matching pair, or remove both files to create a new CA",
			ErrCAKeyMismatch, keyPath, certPath)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid || (cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0) {
		return nil, fmt.Errorf("%w: %s", ErrNotCA, certPath)
	}
	if e.now.Before(cert.NotBefore) || e.now.After(cert.NotAfter) {
		return nil, fmt.Errorf("%w: %s is valid from %s until %s; remove %s and %s to create a new CA",
			ErrCAExpired, certPath, cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339), certPath, keyPath)
	}
	if cert.NotAfter.Sub(e.now) < renewWithin {
		e.log.Warn("development CA expires soon; remove its files to create a new one", "file", certPath, "not_after", cert.NotAfter)
	}
	e.restrictKeyFile(keyPath)
	return &authority{cert: cert, key: key}, nil
}

// writeCA self-signs a CA certificate for key and stores it, with the key
// when writeKey is set. The key goes first: should the process die between
// the two writes, the next call finds the key and rebuilds the certificate.
func (e *ensurer) writeCA(key crypto.Signer, writeKey bool) (*authority, error) {
	certPath := e.path(caCertName)
	cert, err := selfSign(key, e.now)
	if err != nil {
		return nil, err
	}
	if writeKey {
		keyPEM, err := encodeKey(key)
		if err != nil {
			return nil, err
		}
		if err := writeAtomic(e.path(caKeyName), keyPEM, keyMode); err != nil {
			return nil, err
		}
	}
	if err := writeAtomic(certPath, encodeCert(cert.Raw), certMode); err != nil {
		return nil, err
	}
	e.log.Info("created development CA; clients must trust it", "file", certPath,
		"subject", cert.Subject.CommonName, "sha256", fingerprint(cert), "not_after", cert.NotAfter)
	return &authority{cert: cert, key: key}, nil
}

// selfSign makes the CA certificate: it may sign server certificates but
// no intermediate CAs.
func selfSign(key crypto.Signer, now time.Time) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	start := now.Add(-backdate)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{organization},
			CommonName:   fmt.Sprintf("Switchboard Development CA (%s)", hostname()),
		},
		NotBefore:             start,
		NotAfter:              start.AddDate(caLifetimeYears, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("devtls: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devtls: parse new CA certificate: %w", err)
	}
	return cert, nil
}

// randomSerial returns a positive 128-bit serial number. Random serials
// keep certificates from different runs or machines apart, which browsers
// insist on.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, fmt.Errorf("devtls: generate serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown host"
	}
	return h
}

// restrictKeyFile narrows a reused private key file that others may read
// to mode 0600 (for example after a copy that lost its permissions).
func (e *ensurer) restrictKeyFile(path string) {
	fi, err := os.Stat(path)
	if err != nil || runtime.GOOS == "windows" || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	if err := os.Chmod(path, keyMode); err != nil {
		e.log.Warn("private key is readable by others and cannot be restricted", "file", path, "mode", fi.Mode().Perm(), "error", err)
		return
	}
	e.log.Warn("restricted private key permissions to 0600", "file", path, "was", fi.Mode().Perm())
}
