package devtls

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/switchboard-rtc/switchboard/internal/fsutil"
)

// fileErr phrases an I/O failure as "devtls: OP PATH: cause", naming the
// file once whatever operation failed. The cause stays wrapped, so
// errors.Is(err, fs.ErrPermission) and friends keep working.
func fileErr(op, path string, err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	return fmt.Errorf("devtls: %s %s: %w", op, path, err)
}

// readFile reads a whole file, with errors that name it.
func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fileErr("read", path, err)
	}
	return data, nil
}

// readOptional is readFile for files that may legitimately be absent: a
// missing file gives ok == false and no error.
func readOptional(path string) (data []byte, ok bool, err error) {
	data, err = os.ReadFile(path)
	switch {
	case err == nil:
		return data, true, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	default:
		return nil, false, fileErr("read", path, err)
	}
}

// writeAtomic replaces path with data through fsutil.WriteFileAtomic, so
// that readers (and a restart after a crash) see either the old file or
// the new one, never a torn one.
//
// Syncing the directory afterwards is best effort here, as it has always
// been for the certificates: when only that step fails
// (fsutil.ErrNotDurable) the file is in place and serves, and some file
// systems cannot sync a directory at all; refusing to go on there would
// leave a development server without TLS.
func writeAtomic(path string, data []byte, perm fs.FileMode) error {
	err := fsutil.WriteFileAtomic(path, data, perm)
	if err != nil && !errors.Is(err, fsutil.ErrNotDurable) {
		return fileErr("write", path, err)
	}
	return nil
}

// removeTemps deletes temporary files that an interrupted writeAtomic left
// behind for any of names (they begin with fsutil.TempPrefix of the name).
// The caller must hold the directory lock.
func removeTemps(dir string, names ...string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		for _, n := range names {
			if strings.HasPrefix(e.Name(), fsutil.TempPrefix(n)) {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
}

// parseCertPEM returns the first CERTIFICATE block of data, read from path.
func parseCertPEM(path string, data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%w: %s holds no CERTIFICATE block", ErrBadPEM, path)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("devtls: parse %s: %w", path, err)
		}
		return cert, nil
	}
}

// parseKeyPEM returns the first private key of data, read from path. It
// accepts PKCS #8, SEC 1 (EC) and PKCS #1 (RSA) encodings, so that an
// operator may drop in a CA made with other tools.
func parseKeyPEM(path string, data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%w: %s holds no PRIVATE KEY block", ErrBadPEM, path)
		}
		if !strings.HasSuffix(block.Type, "PRIVATE KEY") {
			continue
		}
		key, err := parseKeyDER(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("devtls: parse %s: %w", path, err)
		}
		return key, nil
	}
}

func parseKeyDER(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS #8, SEC 1 or PKCS #1 private key (encrypted keys are not supported)")
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("devtls: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// keyMatches reports whether key is the private half of pub.
func keyMatches(pub crypto.PublicKey, key crypto.Signer) bool {
	own, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && own.Equal(pub)
}

// fingerprint is the SHA-256 digest of a certificate in the colon-separated
// upper-case hex that browsers and "openssl x509 -fingerprint" display.
func fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}
